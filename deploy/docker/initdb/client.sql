-- The jcs client's own database and account (a second client gets a second
-- pair). Change the password here and in DB_PASSWORD of docker-compose.yml.
CREATE DATABASE IF NOT EXISTS jcs_client CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'client'@'%' IDENTIFIED BY 'change-me-too';
GRANT ALL ON jcs_client.* TO 'client'@'%';
