-- PostgreSQL set-up for the PATT guild platform: a login role `patt` owning a database `patt`.
-- Safe to run again: it creates what is missing and (re)sets the role's password, so it also
-- serves to rotate the database password (docs/OPERATIONS.md §8).
--
--   PW=$(python3 -c "import secrets; print(secrets.token_urlsafe(32))")
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -v password="$PW" -f deploy/setup_postgres.sql
--   # then in /etc/patt/patt.env:
--   DATABASE_URL=postgresql://patt:$PW@127.0.0.1:5432/patt
--
-- token_urlsafe passwords need no escaping in the URL. The platform needs no superuser and no
-- extension; the migrations create the schemas common, patt and guild_identity.
\if :{?password}
\else
  \echo 'Pass the password: -v password=...'
  \quit
\endif

SELECT format('CREATE ROLE patt LOGIN PASSWORD %L', :'password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'patt') \gexec
ALTER ROLE patt WITH LOGIN PASSWORD :'password';

SELECT 'CREATE DATABASE patt OWNER patt ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'patt') \gexec

-- Only the owner may connect or create objects.
REVOKE ALL ON DATABASE patt FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE patt TO patt;
\connect patt
ALTER SCHEMA public OWNER TO patt;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
