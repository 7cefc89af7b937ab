/*
 * schema: the migrations in schema/NNN_*.sql, compiled in by
 * schema/embed.cmake in file-name order.
 */
#ifndef MW_SCHEMA_H
#define MW_SCHEMA_H

struct schema_file {
	const char *name;	/* "001_mem0_tables.sql" */
	const char *sql;
};

extern const struct schema_file schema_files[];
extern const int schema_file_count;

#endif
