'use strict';

// Every bad argument is refused locally, before any Redis traffic, with a
// MemoryBadRequestError that names the argument.
const test = require('node:test');
const assert = require('node:assert/strict');
const { MemoryClient, MemoryBadRequestError, MemoryError } = require('../..');
const { stubTransport } = require('../helpers/redis');

const UUID = '0b6f1c1e-8a7d-4c55-9a43-2f1d3b0e9c10';
const MAX = 64;

function client() {
	const c = new MemoryClient({ maxContentBytes: MAX, logger: null });
	const calls = stubTransport(c);
	return { c, calls };
}

const ok = [{ role: 'user', content: 'hello' }];

// [label, call, argument named in the error]
const cases = [
	// addMessages
	['messages not an array', (c) => c.addMessages('hi', 's', 'u', 1), 'messages'],
	['messages null', (c) => c.addMessages(null, 's', 'u', 1), 'messages'],
	['message not an object', (c) => c.addMessages(['hi'], 's', 'u', 1), 'messages[0]'],
	['message role unknown', (c) => c.addMessages([{ role: 'bot', content: 'x' }], 's', 'u', 1), 'messages[0].role'],
	['message type unknown', (c) => c.addMessages([{ type: 'tool', content: 'x' }], 's', 'u', 1), 'messages[0].type'],
	['message without role', (c) => c.addMessages([{ content: 'x' }], 's', 'u', 1), 'messages[0].role'],
	['second message content empty', (c) => c.addMessages([ok[0], { role: 'user', content: '' }], 's', 'u', 1), 'messages[1].content'],
	['content blank', (c) => c.addMessages([{ role: 'user', content: '  \n' }], 's', 'u', 1), 'messages[0].content'],
	['content not a string', (c) => c.addMessages([{ role: 'user', content: 42 }], 's', 'u', 1), 'messages[0].content'],
	// 33 two-byte characters: 33 UTF-16 units, 66 UTF-8 bytes > 64
	['content over maxContentBytes in UTF-8', (c) => c.addMessages([{ role: 'user', content: 'é'.repeat(33) }], 's', 'u', 1), 'messages[0].content'],
	['timestamp not a date', (c) => c.addMessages([{ role: 'user', content: 'x', timestamp: 'yesterday-ish' }], 's', 'u', 1), 'messages[0].timestamp'],
	['sessionId empty', (c) => c.addMessages(ok, '', 'u', 1), 'sessionId'],
	['sessionId a number', (c) => c.addMessages(ok, 12, 'u', 1), 'sessionId'],
	['sessionId over 255 chars', (c) => c.addMessages(ok, 's'.repeat(256), 'u', 1), 'sessionId'],
	['userId an object', (c) => c.addMessages(ok, 's', { id: 1 }, 1), 'userId'],
	['userDatabaseId missing', (c) => c.addMessages(ok, 's', 'u', undefined), 'userDatabaseId'],
	['userDatabaseId null', (c) => c.addMessages(ok, 's', 'u', null), 'userDatabaseId'],
	['userDatabaseId zero', (c) => c.addMessages(ok, 's', 'u', 0), 'userDatabaseId'],
	['userDatabaseId negative', (c) => c.addMessages(ok, 's', 'u', -3), 'userDatabaseId'],
	['userDatabaseId fractional', (c) => c.addMessages(ok, 's', 'u', 1.5), 'userDatabaseId'],
	['userDatabaseId NaN', (c) => c.addMessages(ok, 's', 'u', NaN), 'userDatabaseId'],
	['userDatabaseId unsafe', (c) => c.addMessages(ok, 's', 'u', 2 ** 53), 'userDatabaseId'],
	['userDatabaseId non-digit string', (c) => c.addMessages(ok, 's', 'u', '12a'), 'userDatabaseId'],
	['userDatabaseId signed string', (c) => c.addMessages(ok, 's', 'u', '-4'), 'userDatabaseId'],
	['userDatabaseId empty string', (c) => c.addMessages(ok, 's', 'u', ''), 'userDatabaseId'],
	['userDatabaseId unsafe string', (c) => c.addMessages(ok, 's', 'u', '9007199254740993'), 'userDatabaseId'],
	['options.metadata an array', (c) => c.addMessages(ok, 's', 'u', 1, { metadata: [1] }), 'options.metadata'],
	['options.metadata cyclic', (c) => {
		const m = {};
		m.self = m;
		return c.addMessages(ok, 's', 'u', 1, { metadata: m });
	}, 'options.metadata'],
	['options.messageIds wrong length', (c) => c.addMessages(ok, 's', 'u', 1, { messageIds: ['a', 'b'] }), 'options.messageIds'],
	['options.messageIds element empty', (c) => c.addMessages(ok, 's', 'u', 1, { messageIds: [''] }), 'options.messageIds[0]'],
	['options.infer not boolean', (c) => c.addMessages(ok, 's', 'u', 1, { infer: 'no' }), 'options.infer'],
	['options not an object', (c) => c.addMessages(ok, 's', 'u', 1, 'fast'), 'options'],

	// search
	['search query empty', (c) => c.search('', {}, 1), 'query'],
	['search query not a string', (c) => c.search(null, {}, 1), 'query'],
	['search query too long', (c) => c.search('x'.repeat(MAX + 1), {}, 1), 'query'],
	['search limit 0', (c) => c.search('q', { limit: 0 }, 1), 'options.limit'],
	['search limit 101', (c) => c.search('q', { limit: 101 }, 1), 'options.limit'],
	['search limit fractional', (c) => c.search('q', { limit: 2.5 }, 1), 'options.limit'],
	['search threshold below 0', (c) => c.search('q', { threshold: -0.01 }, 1), 'options.threshold'],
	['search threshold above 1', (c) => c.search('q', { threshold: 1.01 }, 1), 'options.threshold'],
	['search threshold NaN', (c) => c.search('q', { threshold: NaN }, 1), 'options.threshold'],
	['search threshold a string', (c) => c.search('q', { threshold: '0.5' }, 1), 'options.threshold'],
	['search filters an array', (c) => c.search('q', { filters: ['a'] }, 1), 'options.filters'],
	['search filters a Map', (c) => c.search('q', { filters: new Map() }, 1), 'options.filters'],
	['search filters nested object', (c) => c.search('q', { filters: { a: { b: 1 } } }, 1), 'options.filters.a'],
	['search filters null value', (c) => c.search('q', { filters: { a: null } }, 1), 'options.filters.a'],
	['search filters infinite number', (c) => c.search('q', { filters: { a: Infinity } }, 1), 'options.filters.a'],
	['search sessionId empty', (c) => c.search('q', { sessionId: '' }, 1), 'options.sessionId'],
	['search userDatabaseId missing', (c) => c.search('q', {}), 'userDatabaseId'],
	['search userDatabaseId a float string', (c) => c.search('q', {}, '1.0'), 'userDatabaseId'],

	// getContextForQuery
	['context query empty', (c) => c.getContextForQuery('', 's', 'u', 1), 'query'],
	['context sessionId empty', (c) => c.getContextForQuery('q', '', 'u', 1), 'sessionId'],
	['context userDatabaseId bad', (c) => c.getContextForQuery('q', 's', 'u', 'abc'), 'userDatabaseId'],
	['context limit (number form) 0', (c) => c.getContextForQuery('q', 's', 'u', 1, 0), 'options.limit'],
	['context limit (options form) 500', (c) => c.getContextForQuery('q', 's', 'u', 1, { limit: 500 }), 'options.limit'],

	// getSessionMemories / getAll
	['getSessionMemories sessionId missing', (c) => c.getSessionMemories(undefined, 'u', 1), 'sessionId'],
	['getSessionMemories userDatabaseId bad', (c) => c.getSessionMemories('s', 'u', 0), 'userDatabaseId'],
	['getSessionMemories limit 101', (c) => c.getSessionMemories('s', 'u', 1, 101), 'options.limit'],
	['getAll offset negative', (c) => c.getAll(1, { offset: -1 }), 'options.offset'],
	['getAll offset fractional', (c) => c.getAll(1, { offset: 0.5 }), 'options.offset'],
	['getAll limit 0', (c) => c.getAll(1, { limit: 0 }), 'options.limit'],
	['getAll sessionId empty', (c) => c.getAll(1, { sessionId: '' }), 'options.sessionId'],
	['getAll userDatabaseId bad', (c) => c.getAll(true), 'userDatabaseId'],

	// get / history / delete
	['get memoryId not a UUID', (c) => c.get('abc', 1), 'memoryId'],
	['get memoryId a number', (c) => c.get(12, 1), 'memoryId'],
	['get memoryId without dashes', (c) => c.get(UUID.replace(/-/g, ''), 1), 'memoryId'],
	['get userDatabaseId bad', (c) => c.get(UUID, -1), 'userDatabaseId'],
	['history memoryId bad', (c) => c.history('x', 1), 'memoryId'],
	['history userDatabaseId bad', (c) => c.history(UUID, '1e3'), 'userDatabaseId'],
	['delete memoryId bad', (c) => c.delete(`${UUID}x`, 1), 'memoryId'],
	['delete userDatabaseId bad', (c) => c.delete(UUID, {}), 'userDatabaseId'],

	// deleteAll / stats / compatibility helpers
	['deleteAll purge not boolean', (c) => c.deleteAll(1, { purge: 'yes' }), 'options.purge'],
	['deleteAll userDatabaseId bad', (c) => c.deleteAll(0), 'userDatabaseId'],
	['stats userDatabaseId bad', (c) => c.stats('one'), 'userDatabaseId'],
	['deleteSessionMemories sessionId bad', (c) => c.deleteSessionMemories('', 'u', 1), 'sessionId'],
	['deleteSessionMemories userDatabaseId bad', (c) => c.deleteSessionMemories('s', 'u', null), 'userDatabaseId'],
];

for (const [label, call, argument] of cases) {
	test(`bad argument: ${label} -> MemoryBadRequestError naming ${argument}`, async () => {
		const { c, calls } = client();
		await assert.rejects(() => call(c), (err) => {
			assert.ok(err instanceof MemoryBadRequestError, `${err && err.name}: ${err && err.message}`);
			assert.ok(err instanceof MemoryError);
			assert.equal(err.code, 'bad_request');
			assert.equal(err.argument, argument);
			assert.ok(err.message.startsWith(`${argument} `), err.message);
			return true;
		});
		assert.equal(calls.xadd.length + calls.roundTrip.length, 0, 'nothing may reach Redis');
	});
}

test('bad arguments reject (a promise), they do not throw synchronously', () => {
	const { c } = client();
	const p = c.search('', {}, 1);
	assert.ok(p instanceof Promise);
	return assert.rejects(p, MemoryBadRequestError);
});

test('edge values that are valid pass and are normalised', async () => {
	const c = new MemoryClient({ maxContentBytes: MAX, logger: null });
	const calls = stubTransport(c, () => ({ ok: true, results: [{ id: UUID, memory: 'm' }] }));
	await c.addMessages([{ role: 'system', content: 'x'.repeat(MAX) }], 's'.repeat(255), 7, '007');
	await c.addMessages([{ role: 'user', content: 'é'.repeat(32) }], 's', undefined, 9007199254740991);
	await c.search('q', { limit: 1, threshold: 0 }, '42');
	await c.search('q', { limit: 100, threshold: 1, filters: {} }, 42);
	await c.getAll(1, { offset: 0, limit: '5' });
	await c.get(UUID.toUpperCase(), 1);
	assert.equal(calls.xadd[0].entries[0].user_db_id, '7');
	assert.equal(calls.xadd[0].entries[0].user_id, '7');
	assert.equal(calls.xadd[1].entries[0].user_db_id, '9007199254740991');
	assert.equal(calls.xadd[1].entries[0].user_id, undefined);
	assert.equal(calls.roundTrip[0].req.fields.user_db_id, '42');
	assert.equal(calls.roundTrip[0].req.fields.limit, '1');
	assert.equal(calls.roundTrip[0].req.fields.threshold, '0');
	assert.equal(calls.roundTrip[1].req.fields.filters, undefined, 'empty filters are not sent');
	assert.equal(calls.roundTrip[2].req.fields.limit, '5');
	assert.equal(calls.roundTrip[3].req.fields.memory_id, UUID, 'memory ids go out in lower case');
});

test('constructor refuses bad options', () => {
	assert.throws(() => new MemoryClient({ timeoutMs: 0 }), RangeError);
	assert.throws(() => new MemoryClient({ blockingPoolSize: 0 }), RangeError);
	assert.throws(() => new MemoryClient({ blockingPoolSize: 1.5 }), RangeError);
	assert.throws(() => new MemoryClient({ maxContentBytes: -1 }), RangeError);
	assert.throws(() => new MemoryClient({ stream: '' }), TypeError);
	assert.throws(() => new MemoryClient({ replyPrefix: 5 }), TypeError);
	const c = new MemoryClient({ timeoutMs: undefined });
	assert.equal(c.timeoutMs, 5000, 'undefined options take the defaults');
	assert.equal(c.stream, 'mem0:ingest');
	assert.equal(c.searchStream, 'mem0:search');
	assert.equal(c.replyPrefix, 'mem0:reply:');
	assert.equal(c.maxContentBytes, 32768);
	assert.equal(c.blockingPoolSize, 8);
});
