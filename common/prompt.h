/*
 * prompt: memworker's contract with the LLM. The system message holds the
 * instructions (built-in defaults adapted from Mem0, or an operator's file);
 * the user message is one JSON object built here; the reply is a JSON object
 * parsed here, after repairing what models wrap around it (<think> blocks,
 * markdown fences, chatter).
 *
 *   single call:     {"existing_memories":[{"id":"0","text":…}…], "new_messages":[{"role","content"}…]}
 *                    -> {"memory":[{"id","text","event":"ADD|UPDATE|DELETE|NONE","old_memory"}…]}
 *   two-pass call 1: {"new_messages":[…]} -> {"facts":["…"…]}
 *   two-pass call 2: {"existing_memories":[…], "new_facts":["…"…]} -> {"memory":[…]}
 *
 * Existing memories are shown under the ids "0", "1", … (their index in the
 * caller's candidate array); the caller maps them back to UUIDs. Every id
 * the model names is checked against what it was shown, so a reply can
 * never touch a row it did not see. Pure functions, no state: the only I/O
 * is prompt_load_file (start-up) and the log lines of prompt_parse_actions.
 */
#ifndef MW_PROMPT_H
#define MW_PROMPT_H

#include <stddef.h>
#include <time.h>

/* Largest custom prompt file accepted. */
#define PROMPT_FILE_MAX (64 * 1024)

struct prompt_msg {
	const char *role;    /* "user", "assistant", "system"; borrowed */
	const char *content; /* borrowed */
};

struct prompt_candidate {
	const char *uuid; /* the row's id; not shown to the model; borrowed */
	const char *text; /* borrowed */
};

/*
 * Built-in system prompt templates (static text, never freed), each with a
 * "{today}" placeholder for prompt_render():
 *   fact:   two-pass call 1 (Mem0's FACT_RETRIEVAL_PROMPT, for our JSON input)
 *   update: two-pass call 2 (Mem0's DEFAULT_UPDATE_MEMORY_PROMPT, ditto)
 *   single: both steps in one call (the default pipeline)
 */
const char *prompt_default_fact(void);
const char *prompt_default_update(void);
const char *prompt_default_single(void);

/*
 * A system prompt ready to send: tmpl (a default or a loaded file) with
 * every "{today}" replaced by now's local date, YYYY-MM-DD (where Mem0 puts
 * datetime.now()). Caller frees.
 */
char *prompt_render(const char *tmpl, time_t now) __attribute__((warn_unused_result));

/*
 * Reads a custom prompt (MEM0_FACT_PROMPT_FILE, MEM0_UPDATE_PROMPT_FILE) at
 * start-up, with blocking stdio. The whole file, less a UTF-8 BOM, into *out
 * (caller frees). Returns -1 with one line naming the path in err when it
 * cannot be read, is empty or blank, is larger than PROMPT_FILE_MAX or is
 * not valid UTF-8. The text must ask for the same JSON replies as the
 * default it replaces.
 */
int prompt_load_file(const char *path, char **out, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * User messages: one JSON object each (see the top of this file), keys in
 * contract order, non-ASCII kept as UTF-8. msgs/c/facts are borrowed; a NULL
 * string counts as "". Return a malloc'd text, or NULL when some text is not
 * valid UTF-8 or holds U+0000 (intake dead-letters those first).
 */
char *prompt_user_single(const struct prompt_msg *msgs, int n, const struct prompt_candidate *c, int nc)
	__attribute__((warn_unused_result));
char *prompt_user_facts(const struct prompt_msg *msgs, int n) __attribute__((warn_unused_result));
char *prompt_user_decide(const char *const *facts, int nf, const struct prompt_candidate *c, int nc)
	__attribute__((warn_unused_result));

/*
 * Finds the JSON object in a model's reply: strips surrounding whitespace
 * and a BOM, <think>…</think> blocks (several; an unopened "…</think>" at
 * the start; an unclosed "<think>…" up to the end), ```json … ``` and
 * ``` … ``` fences, chatter before the first '{' and after its matching '}'
 * (matching knows JSON strings and escapes), and trailing commas before a
 * '}' or ']'. Returns the object's JSON text (malloc'd; it parses with
 * jansson), or NULL when there is none or it is truncated.
 */
char *prompt_repair_json(const char *reply) __attribute__((warn_unused_result));

struct prompt_fact_list {
	char **facts; /* n malloc'd strings, trimmed, non-empty, distinct */
	int n;
};

/*
 * Parses a fact-extraction reply: {"facts":[…]} after repair, or a bare
 * JSON array. Entries that are not strings or are blank after trimming, and
 * repeats, are dropped. 0 on success (n may be 0); -1 with one line in err
 * when the reply holds no such JSON. out is always initialised; free it
 * with prompt_fact_list_free either way.
 */
int prompt_parse_facts(const char *reply, struct prompt_fact_list *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

enum prompt_event { PROMPT_ADD = 0, PROMPT_UPDATE, PROMPT_DELETE, PROMPT_NONE };

struct prompt_action {
	enum prompt_event event; /* PROMPT_ADD, PROMPT_UPDATE or PROMPT_DELETE */
	int cand;                /* index into the candidates shown; -1 for ADD */
	char *text;              /* trimmed; non-empty for ADD and UPDATE, maybe "" for DELETE */
	char *old_memory;        /* as the model quoted it, or NULL */
};

struct prompt_action_list {
	struct prompt_action *a; /* n actions, in reply order */
	int n;
	int ignored;   /* actions dropped: unknown ids, bad events, empty text, repeats */
	int unchanged; /* NONE events on a shown memory (not in a) */
};

/* "ADD", "UPDATE", "DELETE", "NONE". */
const char *prompt_event_name(enum prompt_event ev);

/*
 * Parses a decision reply {"memory":[…]} for nc shown candidates.
 * - event: ADD, UPDATE, DELETE or NONE in any case; anything else dropped.
 * - UPDATE and DELETE must name a shown candidate: "0".."nc-1" as a string
 *   or an integer. Any other id (invented, out of range, a UUID, missing) is
 *   dropped with a log_warn, never applied to some other row.
 * - ADD ignores its id; ADD and UPDATE need a non-blank string text.
 * - The first UPDATE or DELETE on a candidate wins; later ones are
 *   dropped, and so is an ADD repeating an earlier ADD's text.
 * - NONE (with a shown id) is counted in unchanged, left out of a, and
 *   does not take the candidate: a change to it later in the reply stands.
 * Returns 0 (n may be 0), or -1 with one line in err when the reply holds
 * no JSON object or it has no "memory" array. out is always initialised;
 * free it with prompt_action_list_free either way.
 */
int prompt_parse_actions(const char *reply, int nc, struct prompt_action_list *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void prompt_fact_list_free(struct prompt_fact_list *l);
void prompt_action_list_free(struct prompt_action_list *l);

#endif
