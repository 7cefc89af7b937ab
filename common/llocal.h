/*
 * llocal: the local "chat model". Answers memworker's prompt contract
 * (prompt.h) in-process with the rule-based extractor and decisions of
 * lfacts, so the worker's pipeline (single or two-pass) runs unchanged with
 * MEM0_MODELS=local:
 *
 *   {"existing_memories":[{id,text}...], "new_messages":[{role,content}...]}
 *                                            -> {"memory":[{id,text,event,old_memory}...]}
 *   {"new_messages":[...]}                   -> {"facts":[...]}
 *   {"existing_memories":[...], "new_facts":[...]} -> {"memory":[...]}
 *
 * Facts come from the "user" turns only. ADDs take the next free integer id
 * after the ones shown; UPDATE, DELETE and NONE name the shown id and carry
 * old_memory. The system prompt is not read: the rules are the prompt.
 * Pure: no I/O, the embedder is only read.
 */
#ifndef MW_LLOCAL_H
#define MW_LLOCAL_H

#include <stddef.h>

struct lembed;

/*
 * The reply JSON text for one user message (malloc'd), or NULL with one
 * line in err when the message is not one of the three objects above.
 */
char *llocal_answer(const struct lembed *e, const char *user_message, char *err, size_t errlen)
        __attribute__((warn_unused_result));

#endif
