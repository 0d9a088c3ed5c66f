-- The coordinator's database and account. Change the password here and in
-- config/coordinator.json together.
CREATE DATABASE IF NOT EXISTS jcs_coordinator CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'coordinator'@'%' IDENTIFIED BY 'change-me';
GRANT ALL ON jcs_coordinator.* TO 'coordinator'@'%';
