/*
 * cfg: see cfg.h. The table below is the one place a variable is declared;
 * parsing, bounds, flags and the dump all read it.
 */
#include "cfg.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const provider_names[] = { "pgvector", "memory", "auto", NULL };
static const char *const models_names[] = { "local", "openai", "azure", NULL };
static const char *const pipeline_names[] = { "single", "two-pass", NULL };
static const char *const level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const format_names[] = { "text", "json", NULL };

#define F(field) offsetof(struct cfg, field)
#define STR(n, d, f, h) { n, CFG_STR, d, 0, 0, NULL, F(f), h }
#define SECRET(n, f, h) { n, CFG_SECRET, NULL, 0, 0, NULL, F(f), h }
#define INT(n, d, lo, hi, f, h) { n, CFG_INT, d, lo, hi, NULL, F(f), h }
#define DBL(n, d, lo, hi, f, h) { n, CFG_DOUBLE, d, lo, hi, NULL, F(f), h }
#define BOOL(n, d, f, h) { n, CFG_BOOL, d, 0, 0, NULL, F(f), h }
#define ENUM(n, d, c, f, h) { n, CFG_ENUM, d, 0, 0, c, F(f), h }

const struct cfg_var cfg_vars[] = {
	BOOL("MEM0_ENABLED", "true", enabled, "false: the daemons start, log and do nothing"),
	ENUM("MEM0_PROVIDER", "pgvector", provider_names, provider, "store: pgvector, memory (SQLite) or auto"),
	SECRET("DATABASE_URL", database_url, "PostgreSQL URL; wins over POSTGRES_*"),
	SECRET("MEM0_SEARCH_DATABASE_URL", search_database_url, "PostgreSQL URL memsearch reads from (a replica)"),
	STR("POSTGRES_HOST", "127.0.0.1", pg_host, "PostgreSQL host or socket folder"),
	INT("POSTGRES_PORT", "5432", 1, 65535, pg_port, "PostgreSQL port"),
	STR("POSTGRES_USER", "postgres", pg_user, "PostgreSQL user"),
	SECRET("POSTGRES_PASSWORD", pg_password, "PostgreSQL password"),
	STR("POSTGRES_DB", "memworker", pg_db, "PostgreSQL database"),
	STR("MEM0_SQLITE_PATH", "memworker.db", sqlite_path, "SQLite store file (MEM0_PROVIDER=memory)"),
	SECRET("REDIS_URL", redis_url, "redis://[user:password@]host:port[/db] (default redis://127.0.0.1:6379)"),
	STR("MEM0_STREAM", "mem0:ingest", stream, "ingest stream key"),
	STR("MEM0_GROUP", "memworker", group, "ingest consumer group"),
	STR("MEM0_SEARCH_STREAM", "mem0:search", search_stream, "read-path request stream key"),
	STR("MEM0_SEARCH_GROUP", "memsearch", search_group, "read-path consumer group"),
	STR("MEM0_CONSUMER", NULL, consumer, "consumer name (default host:pid)"),
	INT("MEM0_STREAM_SHARDS", "1", 1, 1024, stream_shards, "ingest stream shards (only 1 in this version)"),
	ENUM("MEM0_MODELS", "local", models_names, models, "models: local (embedded), openai, azure"),
	SECRET("OPENAI_API_KEY", openai_api_key, "API key for MEM0_MODELS=openai"),
	STR("OPENAI_BASE_URL", "https://api.openai.com/v1", openai_base_url, "any OpenAI-compatible server"),
	STR("MEM0_LLM_MODEL", "gpt-4o-mini", llm_model, "chat model"),
	STR("MEM0_EMBEDDING_MODEL", "text-embedding-3-small", embedding_model, "embedding model"),
	INT("MEM0_EMBEDDING_DIMS", NULL, 1, 16000, embedding_dims,
	    "embedding dimension (default 1536; 100 with MEM0_MODELS=local, which allows no other)"),
	BOOL("MEM0_EMBEDDING_BASE64", "true", embedding_base64, "ask for base64 embeddings (4x smaller replies)"),
	STR("MEM0_LOCAL_MODEL_PATH", CFG_DEFAULT_LOCAL_MODEL_PATH, local_model_path,
	    "MEM0_MODELS=local: word vectors file (memctl local-model build)"),
	SECRET("AZURE_OPENAI_API_KEY", azure_api_key, "API key for MEM0_MODELS=azure"),
	STR("AZURE_OPENAI_ENDPOINT", NULL, azure_endpoint, "https://NAME.openai.azure.com"),
	STR("AZURE_OPENAI_API_VERSION", "2024-06-01", azure_api_version, "Azure api-version"),
	STR("MEM0_LLM_MODEL_AZURE", NULL, azure_llm_deployment, "Azure chat deployment"),
	STR("AZURE_EMBEDDING_MODEL", NULL, azure_embedding_deployment, "Azure embedding deployment"),
	ENUM("MEM0_PIPELINE", "single", pipeline_names, pipeline, "single (one LLM call per batch) or two-pass"),
	STR("MEM0_FACT_PROMPT_FILE", NULL, fact_prompt_file, "custom fact-extraction prompt"),
	STR("MEM0_UPDATE_PROMPT_FILE", NULL, update_prompt_file, "custom update-decision prompt"),
	INT("MEM0_BATCH_MAX", "16", 1, 1000, batch_max, "messages per user batch"),
	INT("MEM0_BATCH_WINDOW_MS", "250", 0, 60000, batch_window_ms, "batch flush window"),
	INT("MEM0_READ_COUNT", "256", 1, 10000, read_count, "entries per XREADGROUP"),
	INT("MEM0_MAX_HELD", "4096", 1, 1000000, max_held, "entries read and not yet acked (backpressure)"),
	INT("MEM0_BLOCK_MS", "2000", 1, 60000, block_ms, "XREADGROUP BLOCK"),
	INT("MEM0_MAX_CONTENT_BYTES", "32768", 16, 16777216, max_content_bytes, "largest message content"),
	INT("MEM0_CLAIM_IDLE_MS", "60000", 100, 86400000, claim_idle_ms, "reclaim entries idle this long"),
	INT("MEM0_MAX_DELIVERIES", "5", 1, 1000, max_deliveries, "deliveries before dead-lettering"),
	INT("MEM0_TOP_K", "10", 1, 100, top_k, "similar memories shown to the model"),
	DBL("MEM0_SIMILARITY_THRESHOLD", "0.5", 0, 1, similarity_threshold, "two-pass: candidates below are not similar"),
	INT("MEM0_LLM_TIMEOUT_MS", "30000", 100, 600000, llm_timeout_ms, "per-request timeout"),
	INT("MEM0_LLM_MAX_RETRIES", "4", 0, 20, llm_max_retries, "retries for timeouts, 429 and 5xx"),
	INT("MEM0_LLM_MAX_INFLIGHT", "32", 1, 1024, llm_max_inflight, "HTTP requests in flight"),
	INT("MEM0_EMBED_BATCH_MAX", "256", 1, 2048, embed_batch_max, "inputs per embeddings request"),
	INT("MEM0_SEARCH_LIMIT_MAX", "100", 1, 1000, search_limit_max, "largest search limit"),
	INT("MEM0_REPLY_TTL_MS", "60000", 1000, 3600000, reply_ttl_ms, "expiry of read-path reply keys"),
	BOOL("MEM0_HNSW", "false", hnsw, "keep an HNSW index (very large users)"),
	INT("MEM0_HNSW_EF_SEARCH", "100", 10, 1000, hnsw_ef_search,
	    "HNSW candidate list of a very large user's search: recall against speed (at least 2 x limit)"),
	BOOL("MEM0_PG_PREPARE", "true", pg_prepare,
	     "named prepared statements for the hot queries (false behind a pooler that keeps none)"),
	STR("MEM0_METRICS_ADDR", NULL, metrics_addr, "host:port for /metrics, /healthz, /readyz"),
	INT("MEM0_TRIM_KEEP_DAYS", "0", 0, 3650, trim_keep_days, "worker trims stream entries older (0 = off)"),
	INT("MEM0_TRIM_INTERVAL_MS", "600000", 1000, 86400000, trim_interval_ms, "how often the worker trims"),
	ENUM("MEM0_LOG_LEVEL", "info", level_names, log_level, "error, warn, info, debug"),
	ENUM("MEM0_LOG_FORMAT", "text", format_names, log_format, "text or json"),
};
const size_t cfg_var_count = sizeof(cfg_vars) / sizeof(cfg_vars[0]);

static const struct cfg_var *find_var(const char *name)
{
	size_t i;

	for (i = 0; i < cfg_var_count; i++)
		if (strcmp(cfg_vars[i].name, name) == 0)
			return &cfg_vars[i];
	return NULL;
}

/* MEM0_BATCH_MAX -> batch-max, REDIS_URL -> redis-url */
static void flag_name(const struct cfg_var *v, char *out, size_t outlen)
{
	const char *s = v->name;
	size_t i;

	if (strncmp(s, "MEM0_", 5) == 0)
		s += 5;
	for (i = 0; s[i] && i + 1 < outlen; i++)
		out[i] = s[i] == '_' ? '-' : (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int set_var(struct cfg *cfg, const struct cfg_var *v, const char *value, char *err, size_t errlen)
{
	char *field = (char *)cfg + v->offset;

	switch (v->type) {
	case CFG_STR:
	case CFG_SECRET: {
		char **sp = (char **)(void *)field;
		free(*sp);
		*sp = value ? mw_strdup(value) : NULL;
		return 0;
	}
	case CFG_INT: {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(value, &end, 10);
		if (errno || end == value || *end != '\0') {
			snprintf(err, errlen, "%s: '%s' is not an integer", v->name, value);
			return -1;
		}
		if (n < (long long)v->min || n > (long long)v->max) {
			snprintf(err, errlen, "%s: %lld is out of range [%.0f, %.0f]", v->name, n, v->min, v->max);
			return -1;
		}
		memcpy(field, &(int){ (int)n }, sizeof(int));
		return 0;
	}
	case CFG_DOUBLE: {
		char *end;
		double d;

		errno = 0;
		d = strtod(value, &end);
		if (errno || end == value || *end != '\0' || !isfinite(d)) {
			snprintf(err, errlen, "%s: '%s' is not a number", v->name, value);
			return -1;
		}
		if (d < v->min || d > v->max) {
			snprintf(err, errlen, "%s: %g is out of range [%g, %g]", v->name, d, v->min, v->max);
			return -1;
		}
		memcpy(field, &d, sizeof(double));
		return 0;
	}
	case CFG_BOOL: {
		bool b;

		if (parse_bool(value, &b) < 0) {
			snprintf(err, errlen, "%s: '%s' is not a boolean (true/false)", v->name, value);
			return -1;
		}
		memcpy(field, &b, sizeof(bool));
		return 0;
	}
	case CFG_ENUM: {
		int i;
		size_t used = 0;

		for (i = 0; v->choices[i]; i++) {
			if (strcasecmp(value, v->choices[i]) == 0) {
				memcpy(field, &i, sizeof(int));
				return 0;
			}
		}
		used = (size_t)snprintf(err, errlen, "%s: '%s' is not one of", v->name, value);
		for (i = 0; v->choices[i] && used < errlen; i++)
			used += (size_t)snprintf(err + used, errlen - used, " %s", v->choices[i]);
		return -1;
	}
	}
	snprintf(err, errlen, "%s: unknown type", v->name);
	return -1;
}

int cfg_set(struct cfg *cfg, const char *name, const char *value, char *errbuf, size_t errlen)
{
	const struct cfg_var *v = find_var(name);

	if (!v) {
		snprintf(errbuf, errlen, "%s: unknown variable", name);
		return -1;
	}
	return set_var(cfg, v, value, errbuf, errlen);
}

/* Strips surrounding white space and one pair of matching quotes, in place. */
static char *dotenv_value(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s[n - 1] = '\0';
		s++;
	} else {
		/* an unquoted value ends at " #" (a trailing comment) */
		char *hash = strstr(s, " #");
		if (hash) {
			*hash = '\0';
			n = strlen(s);
			while (n > 0 && isspace((unsigned char)s[n - 1]))
				s[--n] = '\0';
		}
	}
	return s;
}

/* Reads .env lines NAME=VALUE for known names; other names are ignored. */
static int load_dotenv(struct cfg *cfg, const char *path, bool must_exist, FILE *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int rc = 0, lineno = 0;

	if (!f) {
		if (must_exist) {
			fprintf(err, "env file %s: %s\n", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	while (getline(&line, &cap, f) > 0) {
		char *s = line, *eq, msg[256];
		const struct cfg_var *v;

		lineno++;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '#' || *s == '\0')
			continue;
		if (strncmp(s, "export ", 7) == 0)
			s += 7;
		eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		{
			size_t n = strlen(s);
			while (n > 0 && isspace((unsigned char)s[n - 1]))
				s[--n] = '\0';
		}
		v = find_var(s);
		if (!v || getenv(s))	/* the environment wins over the file */
			continue;
		if (set_var(cfg, v, dotenv_value(eq + 1), msg, sizeof(msg)) < 0) {
			fprintf(err, "%s (in %s line %d)\n", msg, path, lineno);
			rc = -1;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

int cfg_load(struct cfg *cfg, int *argc, char **argv, const char *env_file, FILE *err)
{
	char msg[512];
	int rc = 0, i, out = 1;
	size_t k;
	const char *env_path = env_file;
	bool env_explicit = env_file != NULL;

	memset(cfg, 0, sizeof(*cfg));
	for (k = 0; k < cfg_var_count; k++) {
		const struct cfg_var *v = &cfg_vars[k];
		if (v->def && set_var(cfg, v, v->def, msg, sizeof(msg)) < 0) {
			fprintf(err, "built-in default %s\n", msg);
			rc = -1;
		}
	}

	/* --env-file is looked at first: the flags below must win over it */
	for (i = 1; argv && i < *argc; i++) {
		if (strncmp(argv[i], "--env-file=", 11) == 0) {
			env_path = argv[i] + 11;
			env_explicit = true;
		} else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < *argc) {
			env_path = argv[i + 1];
			env_explicit = true;
		}
	}
	if (!env_path)
		env_path = ".env";
	if (load_dotenv(cfg, env_path, env_explicit, err) < 0)
		rc = -1;

	for (k = 0; k < cfg_var_count; k++) {
		const char *val = getenv(cfg_vars[k].name);
		if (val && set_var(cfg, &cfg_vars[k], val, msg, sizeof(msg)) < 0) {
			fprintf(err, "%s\n", msg);
			rc = -1;
		}
	}

	for (i = 1; argv && i < *argc; i++) {
		const char *a = argv[i], *val = NULL;
		const struct cfg_var *v = NULL;
		char name[64];
		size_t alen;

		if (strcmp(a, "--env-file") == 0 && i + 1 < *argc) {
			i++;
			continue;
		}
		if (strncmp(a, "--env-file=", 11) == 0)
			continue;
		if (strcmp(a, "--set") == 0 && i + 1 < *argc) {
			char *eq = strchr(argv[i + 1], '=');
			i++;
			if (!eq) {
				fprintf(err, "--set %s: expected NAME=VALUE\n", argv[i]);
				rc = -1;
				continue;
			}
			snprintf(name, sizeof(name), "%.*s", (int)(eq - argv[i]), argv[i]);
			if (cfg_set(cfg, name, eq + 1, msg, sizeof(msg)) < 0) {
				fprintf(err, "%s\n", msg);
				rc = -1;
			}
			continue;
		}
		if (strncmp(a, "--", 2) == 0) {
			alen = strcspn(a + 2, "=");
			for (k = 0; k < cfg_var_count; k++) {
				flag_name(&cfg_vars[k], name, sizeof(name));
				if (strlen(name) == alen && strncmp(a + 2, name, alen) == 0) {
					v = &cfg_vars[k];
					break;
				}
			}
		}
		if (!v) {
			argv[out++] = argv[i];	/* not ours: left for the caller */
			continue;
		}
		if (a[2 + alen] == '=') {
			val = a + 2 + alen + 1;
		} else if (v->type == CFG_BOOL) {
			bool b;
			/* "--hnsw false" takes the word; "--hnsw migrate" means true */
			if (i + 1 < *argc && parse_bool(argv[i + 1], &b) == 0)
				val = argv[++i];
			else
				val = "true";
		} else if (i + 1 < *argc) {
			val = argv[++i];
		} else {
			fprintf(err, "%s: --%s needs a value\n", v->name, name);
			rc = -1;
			continue;
		}
		if (set_var(cfg, v, val, msg, sizeof(msg)) < 0) {
			fprintf(err, "%s\n", msg);
			rc = -1;
		}
	}
	if (argv) {
		argv[out] = NULL;
		*argc = out;
	}

	/* local has one dimension; the others default to OpenAI's text-embedding-3-small */
	if (cfg->embedding_dims == 0) {
		cfg->embedding_dims =
			cfg->models == CFG_MODELS_LOCAL ? CFG_LOCAL_EMBEDDING_DIMS : CFG_DEFAULT_EMBEDDING_DIMS;
	} else if (cfg->models == CFG_MODELS_LOCAL && cfg->embedding_dims != CFG_LOCAL_EMBEDDING_DIMS) {
		fprintf(err,
			"MEM0_EMBEDDING_DIMS: %d, but MEM0_MODELS=local embeds in %d dimensions (unset it or set %d)\n",
			cfg->embedding_dims, CFG_LOCAL_EMBEDDING_DIMS, CFG_LOCAL_EMBEDDING_DIMS);
		rc = -1;
	}
	if (!cfg->redis_url)
		cfg->redis_url = mw_strdup("redis://127.0.0.1:6379");
	if (strncmp(cfg->redis_url, "redis://", 8) != 0 && strncmp(cfg->redis_url, "rediss://", 9) != 0 &&
	    strncmp(cfg->redis_url, "unix://", 7) != 0) {
		fprintf(err, "REDIS_URL: must start with redis://, rediss:// or unix://\n");
		rc = -1;
	}
	if (strncmp(cfg->openai_base_url, "http://", 7) != 0 && strncmp(cfg->openai_base_url, "https://", 8) != 0) {
		fprintf(err, "OPENAI_BASE_URL: must start with http:// or https://\n");
		rc = -1;
	}
	if (cfg->database_url && strncmp(cfg->database_url, "postgres://", 11) != 0 &&
	    strncmp(cfg->database_url, "postgresql://", 13) != 0) {
		fprintf(err, "DATABASE_URL: must start with postgres:// or postgresql://\n");
		rc = -1;
	}
	if (cfg->stream_shards != 1) {
		/* designed (DESIGN.md, scaling past one machine), not built: refuse rather than ignore */
		fprintf(err, "MEM0_STREAM_SHARDS: %d, but this version consumes one ingest stream; only 1 is "
			     "supported\n", cfg->stream_shards);
		rc = -1;
	}
	if (cfg->metrics_addr && cfg->metrics_addr[0] && !strrchr(cfg->metrics_addr, ':')) {
		fprintf(err, "MEM0_METRICS_ADDR: expected host:port\n");
		rc = -1;
	}
	if (!cfg->consumer) {
		char host[200] = "localhost";
		char buf[256];

		gethostname(host, sizeof(host) - 1);
		snprintf(buf, sizeof(buf), "%s:%d", host, (int)getpid());
		cfg->consumer = mw_strdup(buf);
	}
	return rc;
}

int cfg_check_models(const struct cfg *cfg, FILE *err)
{
	int rc = 0;

	if (cfg->models == CFG_MODELS_OPENAI) {
		bool default_base = strstr(cfg->openai_base_url, "api.openai.com") != NULL;
		if (default_base && (!cfg->openai_api_key || !cfg->openai_api_key[0])) {
			fprintf(err, "OPENAI_API_KEY: required with MEM0_MODELS=openai and the default "
				     "OPENAI_BASE_URL (or set MEM0_MODELS=local)\n");
			rc = -1;
		}
	} else if (cfg->models == CFG_MODELS_AZURE) {
		if (!cfg->azure_api_key || !cfg->azure_api_key[0]) {
			fprintf(err, "AZURE_OPENAI_API_KEY: required with MEM0_MODELS=azure\n");
			rc = -1;
		}
		if (!cfg->azure_endpoint || (strncmp(cfg->azure_endpoint, "https://", 8) != 0 &&
					     strncmp(cfg->azure_endpoint, "http://", 7) != 0)) {
			fprintf(err, "AZURE_OPENAI_ENDPOINT: required with MEM0_MODELS=azure, as https://NAME.openai.azure.com\n");
			rc = -1;
		}
		if (!cfg->azure_llm_deployment || !cfg->azure_llm_deployment[0]) {
			fprintf(err, "MEM0_LLM_MODEL_AZURE: required with MEM0_MODELS=azure (the chat deployment name)\n");
			rc = -1;
		}
		if (!cfg->azure_embedding_deployment || !cfg->azure_embedding_deployment[0]) {
			fprintf(err, "AZURE_EMBEDDING_MODEL: required with MEM0_MODELS=azure (the embedding deployment name)\n");
			rc = -1;
		}
	}
	return rc;
}

/* Appends key='value' with libpq's quoting rules (backslash and quote). */
static void conninfo_add(char **buf, size_t *len, size_t *cap, const char *key, const char *value)
{
	size_t need = strlen(key) + 2 * strlen(value) + 8;
	const char *p;

	if (*len + need >= *cap) {
		*cap = (*len + need) * 2;
		*buf = mw_realloc(*buf, *cap);
	}
	*len += (size_t)sprintf(*buf + *len, "%s%s='", *len ? " " : "", key);
	for (p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			(*buf)[(*len)++] = '\\';
		(*buf)[(*len)++] = *p;
	}
	(*buf)[(*len)++] = '\'';
	(*buf)[*len] = '\0';
}

char *cfg_pg_conninfo(const struct cfg *cfg, bool for_search)
{
	char *buf = NULL, port[16];
	size_t len = 0, cap = 0;

	if (for_search && cfg->search_database_url && cfg->search_database_url[0])
		return mw_strdup(cfg->search_database_url);
	if (cfg->database_url && cfg->database_url[0])
		return mw_strdup(cfg->database_url);
	snprintf(port, sizeof(port), "%d", cfg->pg_port);
	conninfo_add(&buf, &len, &cap, "host", cfg->pg_host);
	conninfo_add(&buf, &len, &cap, "port", port);
	conninfo_add(&buf, &len, &cap, "user", cfg->pg_user);
	conninfo_add(&buf, &len, &cap, "dbname", cfg->pg_db);
	conninfo_add(&buf, &len, &cap, "application_name", "memworker");
	if (cfg->pg_password && cfg->pg_password[0])
		conninfo_add(&buf, &len, &cap, "password", cfg->pg_password);
	return buf;
}

void cfg_dump(const struct cfg *cfg, FILE *out)
{
	size_t k;

	for (k = 0; k < cfg_var_count; k++) {
		const struct cfg_var *v = &cfg_vars[k];
		const char *field = (const char *)cfg + v->offset;

		switch (v->type) {
		case CFG_STR: {
			const char *s = *(char *const *)(const void *)field;
			fprintf(out, "%s=%s\n", v->name, s ? s : "");
			break;
		}
		case CFG_SECRET: {
			const char *s = *(char *const *)(const void *)field;
			char red[512];

			if (!s || !s[0])
				fprintf(out, "%s=\n", v->name);
			else if (strstr(s, "://"))
				fprintf(out, "%s=%s\n", v->name, log_redact_url(s, red, sizeof(red)));
			else
				fprintf(out, "%s=(set)\n", v->name);
			break;
		}
		case CFG_INT: {
			int n;
			memcpy(&n, field, sizeof(n));
			fprintf(out, "%s=%d\n", v->name, n);
			break;
		}
		case CFG_DOUBLE: {
			double d;
			memcpy(&d, field, sizeof(d));
			fprintf(out, "%s=%g\n", v->name, d);
			break;
		}
		case CFG_BOOL: {
			bool b;
			memcpy(&b, field, sizeof(b));
			fprintf(out, "%s=%s\n", v->name, b ? "true" : "false");
			break;
		}
		case CFG_ENUM: {
			int n;
			memcpy(&n, field, sizeof(n));
			fprintf(out, "%s=%s\n", v->name, v->choices[n]);
			break;
		}
		}
	}
}

void cfg_free(struct cfg *cfg)
{
	size_t k;

	for (k = 0; k < cfg_var_count; k++) {
		if (cfg_vars[k].type == CFG_STR || cfg_vars[k].type == CFG_SECRET) {
			char **sp = (char **)(void *)((char *)cfg + cfg_vars[k].offset);
			free(*sp);
			*sp = NULL;
		}
	}
}
