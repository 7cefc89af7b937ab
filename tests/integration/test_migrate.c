/*
 * memctl migrate against a real PostgreSQL with pgvector: fresh database,
 * upgrade of the chat app's two 002 shapes with rows kept, idempotence,
 * refusal of a changed migration, HNSW toggling, and errors that say what
 * to do.
 */
#include "migrate.h"
#include "schema.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_ok(PGconn *conn, int dims, bool hnsw, struct migrate_result *res)
{
	struct migrate_opts o = { .embedding_dims = dims, .hnsw = hnsw };

	cr_assert_eq(migrate_run(conn, &o, res), 0, "migrate failed: %s", res->errstr);
}

static void load_fixture(PGconn *conn, const char *name)
{
	char path[512];
	char *sql;

	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", MW_SOURCE_DIR, name);
	sql = tenv_slurp(path);
	cr_assert_not_null(sql, "fixture %s", path);
	PQclear(tenv_pg_exec(conn, sql));
	free(sql);
}

static bool has_index_using(PGconn *conn, const char *am)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
		 "WHERE i.indrelid = 'mem0_memories'::regclass AND a.amname = '%s'", am);
	return tenv_pg_count(conn, sql) > 0;
}

static void assert_memworker_shape(PGconn *conn, int dims)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_attribute WHERE attrelid = 'mem0_memories'::regclass "
		 "AND attname = 'embedding' AND format_type(atttypid, atttypmod) = 'vector(%d)'", dims);
	cr_expect_eq(tenv_pg_count(conn, sql), 1, "embedding is vector(%d)", dims);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'mem0_memories_user_hash_key'"), 1);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM pg_class WHERE relname = 'mem0_ingest_log'"), 1);
	cr_expect_eq(tenv_pg_count(conn,
				   "SELECT count(*) FROM pg_constraint WHERE conrelid = 'mem0_history'::regclass "
				   "AND confrelid = 'mem0_memories'::regclass"),
		     0, "history must not cascade from memories");
	cr_expect_not(has_index_using(conn, "ivfflat"), "IVFFlat index replaced");
	cr_expect_eq(tenv_pg_count(conn,
				   "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'mem0_memories'::regclass "
				   "AND tgname = 'update_mem0_metadata_on_memory_change'"),
		     1);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM memworker_migrations"), schema_file_count);
}

Test(migrate, fresh_database, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("fresh", db);
	struct migrate_result res;

	run_ok(conn, 1536, false, &res);
	cr_expect_eq(res.applied, schema_file_count);
	assert_memworker_shape(conn, 1536);

	/* metadata kept by triggers; history survives its memory */
	PQclear(tenv_pg_exec(conn,
			     "INSERT INTO mem0_memories (user_id, session_id, memory, hash) VALUES "
			     "(7, 's', 'Likes tea', md5('Likes tea')), (7, 's', 'Has a cat', md5('Has a cat'))"));
	PQclear(tenv_pg_exec(conn, "INSERT INTO mem0_history (memory_id, user_id, action, new_content) "
				   "SELECT id, user_id, 'created', memory FROM mem0_memories"));
	cr_expect_eq(tenv_pg_count(conn, "SELECT total_memories FROM mem0_metadata WHERE user_id = 7"), 2);
	PQclear(tenv_pg_exec(conn, "DELETE FROM mem0_memories WHERE memory = 'Likes tea'"));
	cr_expect_eq(tenv_pg_count(conn, "SELECT total_memories FROM mem0_metadata WHERE user_id = 7"), 1);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM mem0_history WHERE user_id = 7"), 2);

	/* the per-user hash is unique */
	{
		PGresult *r = PQexec(conn, "INSERT INTO mem0_memories (user_id, session_id, memory, hash) "
					   "VALUES (7, 't', 'Has a cat', md5('Has a cat'))");
		cr_expect_eq(PQresultStatus(r), PGRES_FATAL_ERROR, "duplicate hash accepted");
		PQclear(r);
	}
	PQfinish(conn);
}

Test(migrate, twice_is_a_no_op, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("twice", db);
	struct migrate_result res;

	run_ok(conn, 1536, false, &res);
	run_ok(conn, 1536, false, &res);
	cr_expect_eq(res.applied, 0);
	cr_expect_eq(res.already, schema_file_count);
	assert_memworker_shape(conn, 1536);
	PQfinish(conn);
}

Test(migrate, dimension_is_a_setting_and_never_mixed, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("dims", db);
	struct migrate_result res;
	struct migrate_opts o = { .embedding_dims = 1536 };

	run_ok(conn, 100, false, &res);
	assert_memworker_shape(conn, 100);
	cr_expect_eq(migrate_run(conn, &o, &res), -1);
	cr_expect(strstr(res.errstr, "MEM0_EMBEDDING_DIMS=1536") && strstr(res.errstr, "vector(100)"), "%s",
		  res.errstr);
	PQfinish(conn);
}

Test(migrate, changed_migration_is_refused, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("changed", db);
	struct migrate_result res;
	struct schema_file files[8];
	struct migrate_opts o = { .embedding_dims = 1536, .files = files, .file_count = schema_file_count };
	char *edited;
	int i;

	run_ok(conn, 1536, false, &res);
	for (i = 0; i < schema_file_count; i++)
		files[i] = schema_files[i];
	edited = malloc(strlen(files[0].sql) + 32);
	sprintf(edited, "%s\n-- edited\n", files[0].sql);
	files[0].sql = edited;
	cr_expect_eq(migrate_run(conn, &o, &res), -1);
	cr_expect(strstr(res.errstr, files[0].name) != NULL, "%s", res.errstr);
	cr_expect(strstr(res.errstr, "must not change") != NULL, "%s", res.errstr);
	free(edited);
	PQfinish(conn);
}

Test(migrate, failed_migration_rolls_back_and_names_itself, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("broken", db);
	struct migrate_result res;
	struct schema_file files[] = {
		{ "001_ok.sql", "CREATE TABLE ok_table (x int);" },
		{ "002_broken.sql", "CREATE TABLE half_done (x int); SELECT no_such_function();" },
	};
	struct migrate_opts o = { .embedding_dims = 8, .files = files, .file_count = 2 };

	cr_expect_eq(migrate_run(conn, &o, &res), -1);
	cr_expect(strstr(res.errstr, "002_broken.sql") != NULL, "%s", res.errstr);
	cr_expect(strchr(res.errstr, '\n') == NULL, "one line: %s", res.errstr);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM pg_class WHERE relname = 'half_done'"), 0);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM memworker_migrations"), 1);
	PQfinish(conn);
}

Test(migrate, missing_extension_names_the_package, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("noext", db);
	struct migrate_result res;
	struct schema_file files[] = { { "001_ext.sql", "CREATE EXTENSION vector_not_installed_here;" } };
	struct migrate_opts o = { .embedding_dims = 8, .files = files, .file_count = 1 };

	cr_expect_eq(migrate_run(conn, &o, &res), -1);
	cr_expect(strstr(res.errstr, "postgresql-15-pgvector") != NULL, "%s", res.errstr);
	PQfinish(conn);
}

Test(migrate, missing_rights_name_the_grant, .init = tenv_require_servers)
{
	char db[64], role[64];
	PGconn *admin = tenv_pg_new_db("rights", db), *conn;
	struct migrate_result res;
	struct migrate_opts o = { .embedding_dims = 8 };
	char sql[256], port[16];
	const char *keys[] = { "host", "port", "user", "dbname", NULL };
	const char *vals[] = { "127.0.0.1", port, role, db, NULL };

	tenv_unique("r", role, sizeof(role));
	snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC", role);
	PQclear(tenv_pg_exec(admin, sql));
	snprintf(port, sizeof(port), "%d", tenv_pg_port());
	conn = PQconnectdbParams(keys, vals, 0);
	cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));

	/* first the schema right the migrations table needs */
	cr_expect_eq(migrate_run(conn, &o, &res), -1);
	cr_expect(strstr(res.errstr, "GRANT CREATE ON SCHEMA public") != NULL, "%s", res.errstr);

	/* pgvector is not a trusted extension: a plain user cannot create it */
	snprintf(sql, sizeof(sql), "GRANT CREATE ON SCHEMA public TO %s", role);
	PQclear(tenv_pg_exec(admin, sql));
	cr_expect_eq(migrate_run(conn, &o, &res), -1);
	cr_expect(strstr(res.errstr, "CREATE EXTENSION vector") != NULL, "%s", res.errstr);

	/* and once a superuser made it, the plain user migrates */
	PQclear(tenv_pg_exec(admin, "CREATE EXTENSION vector"));
	cr_expect_eq(migrate_run(conn, &o, &res), 0, "%s", res.errstr);
	PQfinish(conn);
	PQfinish(admin);
}

Test(migrate, hnsw_on_then_off, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("hnsw", db);
	struct migrate_result res;

	run_ok(conn, 16, false, &res);
	cr_expect_not(has_index_using(conn, "hnsw"));
	run_ok(conn, 16, true, &res);
	cr_expect(has_index_using(conn, "hnsw"));
	run_ok(conn, 16, false, &res);
	cr_expect_not(has_index_using(conn, "hnsw"));
	PQfinish(conn);
}

/* Rows the chat app wrote before memworker, including an exact duplicate. */
static void seed_chatapp_rows(PGconn *conn, bool json)
{
	char sql[4096];
	const char *emb = json ? "(SELECT jsonb_agg(0.001 * g) FROM generate_series(1, 1536) g)"
			       : "(SELECT array_agg(0.001 * g)::vector FROM generate_series(1, 1536) g)";

	snprintf(sql, sizeof(sql),
		 "INSERT INTO mem0_memories (user_id, session_id, memory, embedding, metadata) VALUES "
		 "(1, 's1', 'Name is Sean', %s, '{\"source\":\"chat\"}'),"
		 "(1, 's1', 'Likes sci-fi movies', %s, '{}'),"
		 "(1, 's2', 'Likes sci-fi movies', NULL, '{}'),"
		 "(2, 's9', 'Lives in Lisbon', %s, NULL)",
		 emb, emb, emb);
	PQclear(tenv_pg_exec(conn, sql));
	PQclear(tenv_pg_exec(conn, "INSERT INTO mem0_history (memory_id, user_id, action, new_content) "
				   "SELECT id, user_id, 'created', memory FROM mem0_memories"));
}

static void check_upgraded(PGconn *conn)
{
	assert_memworker_shape(conn, 1536);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM mem0_memories"), 4, "every row kept");
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM mem0_history"), 4);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM mem0_memories WHERE memory = 'Name is Sean' "
					 "AND metadata->>'source' = 'chat' AND hash = md5(memory)"), 1);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(DISTINCT hash) FROM mem0_memories WHERE user_id = 1"), 3,
		     "the chat app's duplicate keeps its row under a hash of its own");
	cr_expect_eq(tenv_pg_count(conn, "SELECT round(((embedding::real[])[1536] * 1000)::numeric) FROM mem0_memories "
					 "WHERE memory = 'Lives in Lisbon'"),
		     1536, "embedding values kept");
	cr_expect_eq(tenv_pg_count(conn, "SELECT total_memories FROM mem0_metadata WHERE user_id = 1"), 3);
	/* history now survives a delete; users' cascade FK still in place */
	PQclear(tenv_pg_exec(conn, "DELETE FROM mem0_memories WHERE memory = 'Name is Sean'"));
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM mem0_history"), 4);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'mem0_memories'::regclass "
					 "AND confrelid = 'users'::regclass"),
		     1);
}

Test(migrate, upgrades_chat_app_002_keeping_rows, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("chat002", db);
	struct migrate_result res;

	load_fixture(conn, "chatapp_001_users.sql");
	load_fixture(conn, "chatapp_002_mem0.sql");
	seed_chatapp_rows(conn, false);
	cr_assert(has_index_using(conn, "ivfflat"));
	run_ok(conn, 1536, false, &res);
	check_upgraded(conn);
	run_ok(conn, 1536, false, &res);
	cr_expect_eq(res.applied, 0);
	PQfinish(conn);
}

Test(migrate, upgrades_chat_app_002_safe_jsonb_to_vector, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("chat002safe", db);
	struct migrate_result res;

	load_fixture(conn, "chatapp_001_users.sql");
	load_fixture(conn, "chatapp_002_mem0_safe.sql");
	/* the server had no pgvector when the chat app migrated */
	PQclear(tenv_pg_exec(conn, "DROP EXTENSION IF EXISTS vector"));
	seed_chatapp_rows(conn, true);
	run_ok(conn, 1536, false, &res);
	check_upgraded(conn);
	PQfinish(conn);
}

Test(migrate, jsonb_of_the_wrong_length_is_refused, .init = tenv_require_servers)
{
	char db[64];
	PGconn *conn = tenv_pg_new_db("badjson", db);
	struct migrate_result res;
	struct migrate_opts o = { .embedding_dims = 1536 };

	load_fixture(conn, "chatapp_001_users.sql");
	load_fixture(conn, "chatapp_002_mem0_safe.sql");
	PQclear(tenv_pg_exec(conn, "INSERT INTO mem0_memories (user_id, session_id, memory, embedding) "
				   "VALUES (1, 's', 'x', '[1, 2, 3]')"));
	cr_expect_eq(migrate_run(conn, &o, &res), -1);
	cr_expect(strstr(res.errstr, "MEM0_EMBEDDING_DIMS") != NULL, "%s", res.errstr);
	cr_expect_eq(tenv_pg_count(conn, "SELECT count(*) FROM mem0_memories"), 1, "nothing lost");
	PQfinish(conn);
}
