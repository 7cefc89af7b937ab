'use strict';

/*
 * How server.js uses @memworker/client: push every saved chat message, and
 * put the user's relevant memories in front of the model. Memory is an
 * extra: when Redis or memsearch is down the chat goes on without it.
 *
 * Try it:  REDIS_URL=redis://127.0.0.1:6379 node examples/server-integration.js
 * (without memsearch running, the context call ends in a timeout after 2 s, and the prompt has no memories).
 */
const { getMemoryClient, MemoryError } = require('@memworker/client');

// One client per process; REDIS_URL, MEM0_STREAM and MEM0_SEARCH_STREAM come from the environment.
const memory = getMemoryClient({ timeoutMs: 2000 });

/** After the message is stored in chat_messages: hand it to memworker (returns once it is in Redis). */
async function onMessageSaved(message, sessionId, user) {
	try {
		await memory.addMessages([message], sessionId, user.username, user.id);
	} catch (err) {
		console.error(`[memory] message not queued (${err.code}): ${err.message}`);
	}
}

/** Before the LLM call: system prompt, then `[Relevant Context: …]` memories, then the conversation. */
async function buildPrompt(systemPrompt, query, sessionId, user, history) {
	let context = [];
	try {
		context = await memory.getContextForQuery(query, sessionId, user.username, user.id, { limit: 10 });
	} catch (err) {
		if (!(err instanceof MemoryError)) throw err;
		console.warn(`[memory] answering without memories (${err.code}): ${err.message}`);
	}
	return [{ role: 'system', content: systemPrompt }, ...context, ...history, { role: 'user', content: query }];
}

if (require.main === module) {
	(async () => {
		const user = { id: 1, username: 'sean' };
		await onMessageSaved({ type: 'user', content: 'My name is Sean. I love sci-fi movies.', timestamp: new Date().toISOString() }, 'demo-session', user);
		const prompt = await buildPrompt('You are a helpful assistant.', 'What movies do I like?', 'demo-session', user, []);
		console.log(JSON.stringify(prompt, null, 2));
		await memory.quit();
	})();
}

module.exports = { onMessageSaved, buildPrompt };
