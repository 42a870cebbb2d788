DROP TABLE IF EXISTS instance_health;
