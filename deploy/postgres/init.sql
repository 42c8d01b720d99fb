-- One database per service, owned by the sifang user (the compose file's PostgreSQL runs this once,
-- when its data volume is new).
CREATE DATABASE sifang_coordinator OWNER sifang;
CREATE DATABASE sifang_government OWNER sifang;
CREATE DATABASE sifang_enterprise OWNER sifang;
CREATE DATABASE sifang_ngo OWNER sifang;
CREATE DATABASE sifang_community OWNER sifang;
