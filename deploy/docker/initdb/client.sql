-- The jcs client's own database (the image's MARIADB_* variables create the coordinator's).
CREATE DATABASE IF NOT EXISTS jcs_client CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'client'@'%' IDENTIFIED BY 'change-me-too';
GRANT ALL ON jcs_client.* TO 'client'@'%';
