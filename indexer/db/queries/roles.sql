-- `indexer db grant`: the read-only role for dashboards (indexer/db/roles.py).
-- Named queries (`-- name: NAME`), loaded by indexer/db/store.py.

-- Who runs the grant, and whose database it is.
-- name: grant_context
SELECT current_user AS me, r.rolsuper AS superuser, pg_get_userbyid(d.datdba) AS owner,
       current_database() AS database
FROM pg_database d, pg_roles r
WHERE d.datname = current_database() AND r.rolname = current_user;

-- name: role_exists
SELECT 1 FROM pg_roles WHERE rolname = $1;

-- Everything role $1 holds beyond what `grant` gives (SELECT on the public views $2, USAGE on
-- schema public, CONNECT on this database), one line each: attributes, memberships, objects it
-- owns anywhere in the cluster, privileges on anything else (pg_shdepend records both, for
-- every database), policies naming it. Empty = the role is no more than a read-only role.
-- name: role_excess
WITH r AS (SELECT * FROM pg_roles WHERE rolname = $1),
here AS (SELECT oid FROM pg_database WHERE datname = current_database()),
dep AS (SELECT d.classid, d.objid, d.objsubid, d.deptype, d.dbid
        FROM pg_shdepend d JOIN r ON d.refobjid = r.oid
        WHERE d.refclassid = 'pg_authid'::regclass),
allowed AS (
    SELECT 'pg_class'::regclass::oid AS classid, c.oid AS objid
    FROM pg_class c, r
    WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace AND c.relname = ANY ($2)
      AND NOT EXISTS (SELECT 1 FROM aclexplode(c.relacl) a
                      WHERE a.grantee = r.oid AND (a.privilege_type <> 'SELECT' OR a.is_grantable))
    UNION ALL
    SELECT 'pg_namespace'::regclass::oid, n.oid
    FROM pg_namespace n, r
    WHERE n.nspname = 'public'
      AND NOT EXISTS (SELECT 1 FROM aclexplode(n.nspacl) a
                      WHERE a.grantee = r.oid AND (a.privilege_type <> 'USAGE' OR a.is_grantable))
    UNION ALL
    SELECT 'pg_database'::regclass::oid, d.oid
    FROM pg_database d, r
    WHERE d.datname = current_database()
      AND NOT EXISTS (SELECT 1 FROM aclexplode(d.datacl) a
                      WHERE a.grantee = r.oid AND (a.privilege_type <> 'CONNECT' OR a.is_grantable))
),
excess AS (
    SELECT 1 AS k, a.n, a.what
    FROM r, unnest(ARRAY[
               CASE WHEN r.rolsuper THEN 'is a superuser' END,
               CASE WHEN r.rolcreaterole THEN 'may create roles (CREATEROLE)' END,
               CASE WHEN r.rolcreatedb THEN 'may create databases (CREATEDB)' END,
               CASE WHEN r.rolreplication THEN 'may start replication (REPLICATION)' END,
               CASE WHEN r.rolbypassrls THEN 'bypasses row-level security (BYPASSRLS)' END
           ]) WITH ORDINALITY a (what, n)
    UNION ALL
    SELECT 2, 0, 'is a member of role ' || quote_ident(g.rolname)
    FROM r JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
    UNION ALL
    SELECT 3, 0, CASE WHEN dep.dbid IN (0, (SELECT oid FROM here))
                   THEN CASE WHEN dep.deptype = 'o' THEN 'owns ' ELSE 'holds privileges on ' END
                        || pg_describe_object(dep.classid, dep.objid, dep.objsubid)
                   ELSE CASE WHEN dep.deptype = 'o' THEN 'owns objects' ELSE 'holds privileges' END
                        || ' in database '
                        || quote_ident((SELECT datname FROM pg_database WHERE oid = dep.dbid))
              END
    FROM dep
    WHERE dep.deptype <> 'a' OR dep.objsubid <> 0
       OR (dep.classid, dep.objid) NOT IN (SELECT classid, objid FROM allowed)
)
SELECT what FROM excess WHERE what IS NOT NULL GROUP BY what ORDER BY min(k), min(n), what;

-- What role $1 can do once granted ($2: the public views): each must be false or empty.
-- name: readonly_role_check
SELECT has_database_privilege($1, current_database(), 'TEMPORARY') AS temporary,
       has_database_privilege($1, current_database(), 'CREATE') AS create_schema,
       has_schema_privilege($1, 'public', 'CREATE') AS create_in_public,
       ARRAY(SELECT v FROM unnest($2::text[]) v
             WHERE to_regclass('public.' || quote_ident(v)) IS NULL
                OR NOT has_table_privilege($1, to_regclass('public.' || quote_ident(v)), 'SELECT')
             ORDER BY 1) AS unreadable,
       ARRAY(SELECT c.relname::text FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace
               AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
               AND NOT (c.relkind = 'v' AND c.relname = ANY ($2))
               AND has_table_privilege($1, c.oid,
                                       'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
             ORDER BY 1) AS internal;

-- The databases other than this one that role $1 may connect to, with their owners.
-- name: other_databases
SELECT datname::text AS name, pg_get_userbyid(datdba) AS owner
FROM pg_database
WHERE datallowconn AND datname <> current_database() AND has_database_privilege($1, oid, 'CONNECT')
ORDER BY 1;
