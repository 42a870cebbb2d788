DROP TABLE backup_schedule_runs;
DROP TABLE backup_schedules;
