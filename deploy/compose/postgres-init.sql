-- docker-compose only: one database and one role per service, each role reaching only its
-- own database (DESIGN.md §2: nothing else reads a service's database). The passwords are
-- local-development values; on Kubernetes the database URLs come from Secrets.
CREATE ROLE overdue_detector LOGIN PASSWORD 'overdue_detector';
CREATE DATABASE overdue_detector OWNER overdue_detector;
CREATE ROLE case_router LOGIN PASSWORD 'case_router';
CREATE DATABASE case_router OWNER case_router;
CREATE ROLE notifier LOGIN PASSWORD 'notifier';
CREATE DATABASE notifier OWNER notifier;
CREATE ROLE agency_gateway LOGIN PASSWORD 'agency_gateway';
CREATE DATABASE agency_gateway OWNER agency_gateway;
REVOKE CONNECT ON DATABASE overdue_detector, case_router, notifier, agency_gateway FROM PUBLIC;
