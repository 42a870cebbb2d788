DROP TABLE backup_drill_results;
DROP TABLE restore_drills;
