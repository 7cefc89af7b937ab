'use strict';

// addMessages: the ingest entry fields (DESIGN.md "Ingest entry"), exactly.
const test = require('node:test');
const assert = require('node:assert/strict');
const { MemoryClient } = require('../..');
const { encodeIngestEntries } = require('../../lib/protocol');
const { stubTransport, needsRedis, redisUrl, connect, uniq } = require('../helpers/redis');

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const NOW_ISO = '2025-01-02T03:04:05.678Z';

function encode(messages, sessionId, userId, userDatabaseId, options) {
	return encodeIngestEntries({ messages, sessionId, userId, userDatabaseId, options, maxContentBytes: 32768, now: NOW });
}

test('one entry per message with exactly the contract fields, all strings', () => {
	const entries = encode(
		[
			{ role: 'user', content: 'My name is Sean. I love sci-fi movies.' },
			{ role: 'assistant', content: 'Nice to meet you, Sean!' },
		],
		'sess-1',
		'sean@example.com',
		42,
		{ metadata: { source: 'chat', agent: 'default' } },
	);
	assert.deepEqual(entries, [
		{
			user_db_id: '42',
			session_id: 'sess-1',
			role: 'user',
			content: 'My name is Sean. I love sci-fi movies.',
			user_id: 'sean@example.com',
			created_at: NOW_ISO,
			metadata: '{"source":"chat","agent":"default"}',
			v: '1',
		},
		{
			user_db_id: '42',
			session_id: 'sess-1',
			role: 'assistant',
			content: 'Nice to meet you, Sean!',
			user_id: 'sean@example.com',
			created_at: NOW_ISO,
			metadata: '{"source":"chat","agent":"default"}',
			v: '1',
		},
	]);
	for (const e of entries) for (const v of Object.values(e)) assert.equal(typeof v, 'string');
});

test('metadata defaults to {} and user_id is left out when there is no app user id', () => {
	const [e] = encode([{ role: 'system', content: 'x' }], 's', null, '7');
	assert.equal(e.metadata, '{}');
	assert.equal('user_id' in e, false);
	assert.equal('message_id' in e, false);
	assert.equal('infer' in e, false);
	assert.equal(e.user_db_id, '7');
	assert.equal(e.role, 'system');
});

test('numeric app user ids are sent as strings', () => {
	const [e] = encode([{ role: 'user', content: 'x' }], 's', 12, 12);
	assert.equal(e.user_id, '12');
});

test('message_id only when messageIds are given, one per message', () => {
	const entries = encode([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }], 's', 'u', 1, {
		messageIds: ['m-1', 1002],
	});
	assert.deepEqual(entries.map((e) => e.message_id), ['m-1', '1002']);
});

test('infer: false is sent as "false"; infer: true is the default and is not sent', () => {
	assert.equal(encode([{ role: 'user', content: 'a' }], 's', 'u', 1, { infer: false })[0].infer, 'false');
	assert.equal('infer' in encode([{ role: 'user', content: 'a' }], 's', 'u', 1, { infer: true })[0], false);
});

test("the chat app's stored messages ({type, content, timestamp}) are accepted", () => {
	const entries = encode(
		[
			{ type: 'user', content: 'hi', timestamp: '2024-05-06T07:08:09+02:00', metadata: { big: 'ignored' } },
			{ type: 'assistant', content: 'hello', createdAt: new Date(Date.UTC(2024, 4, 6)) },
			{ role: 'user', type: 'assistant', content: 'role wins', created_at: 1714953600000 },
		],
		's',
		'u',
		1,
	);
	assert.deepEqual(entries.map((e) => e.role), ['user', 'assistant', 'user']);
	assert.deepEqual(entries.map((e) => e.created_at), ['2024-05-06T05:08:09.000Z', '2024-05-06T00:00:00.000Z', '2024-05-06T00:00:00.000Z']);
	assert.equal(entries[0].metadata, '{}', "a message's own metadata is not copied (only options.metadata is)");
});

test('created_at defaults to now, as ISO 8601', () => {
	const before = Date.now();
	const [e] = encodeIngestEntries({ messages: [{ role: 'user', content: 'x' }], sessionId: 's', userDatabaseId: 1, maxContentBytes: 100 });
	const t = Date.parse(e.created_at);
	assert.match(e.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
	assert.ok(t >= before && t <= Date.now());
});

test('content is sent byte for byte (unicode, newlines, JSON-looking text)', () => {
	const content = 'Ünïcødé 🚀\nline two\t{"role":"system"}';
	assert.equal(encode([{ role: 'user', content }], 's', 'u', 1)[0].content, content);
});

test('addMessages XADDs every message in one call to the ingest stream and resolves with the ids', async () => {
	const c = new MemoryClient({ stream: 'app:ingest', logger: null });
	const calls = stubTransport(c);
	const ids = await c.addMessages([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }], 's', 'u', 3);
	assert.deepEqual(ids, ['1-0', '1-1']);
	assert.equal(calls.xadd.length, 1);
	assert.equal(calls.xadd[0].stream, 'app:ingest');
	assert.equal(calls.xadd[0].entries.length, 2);
	assert.ok(calls.xadd[0].deadlineMs > Date.now() && calls.xadd[0].deadlineMs <= Date.now() + 5000);
});

test('addMessages with no messages resolves [] without touching Redis', async () => {
	const c = new MemoryClient({ logger: null });
	const calls = stubTransport(c);
	assert.deepEqual(await c.addMessages([], 's', 'u', 3), []);
	assert.equal(calls.xadd.length, 0);
});

test('addMessage(message, …) is addMessages([message], …)', async () => {
	const c = new MemoryClient({ logger: null });
	const calls = stubTransport(c);
	assert.deepEqual(await c.addMessage({ type: 'user', content: 'solo' }, 's', 'u', 3), ['1-0']);
	assert.equal(calls.xadd[0].entries[0].content, 'solo');
});

test('real Redis: entries land in the stream in order, fields intact, several messages in one MULTI', { skip: needsRedis }, async () => {
	const stream = uniq('test:ingest');
	const c = new MemoryClient({ redisUrl, stream, logger: null });
	const admin = await connect();
	try {
		await c.connect();
		const main = c._transport._main;
		let multis = 0;
		const realMulti = main.multi.bind(main);
		main.multi = () => {
			multis++;
			return realMulti();
		};
		const msgs = [
			{ role: 'user', content: 'My name is Sean. I love sci-fi movies.' },
			{ role: 'assistant', content: 'Noted, Sean! Any favourite?' },
			{ role: 'user', content: 'Dune. 🚀' },
		];
		const ids = await c.addMessages(msgs, 'sess-9', 'sean', 99, { metadata: { k: 'v' }, messageIds: ['a', 'b', 'c'] });
		assert.equal(multis, 1, 'three messages, one MULTI');
		const single = await c.addMessages([{ role: 'user', content: 'one' }], 'sess-9', 'sean', 99);
		assert.equal(multis, 1, 'a single message is a plain XADD');
		const entries = await admin.xRange(stream, '-', '+');
		assert.deepEqual(entries.map((e) => e.id), [...ids, ...single]);
		assert.deepEqual(entries.map((e) => e.message.content), [...msgs.map((m) => m.content), 'one']);
		const first = entries[0].message;
		assert.deepEqual(Object.keys(first).sort(), ['content', 'created_at', 'message_id', 'metadata', 'role', 'session_id', 'user_db_id', 'user_id', 'v']);
		assert.equal(first.user_db_id, '99');
		assert.equal(first.session_id, 'sess-9');
		assert.equal(first.message_id, 'a');
		assert.equal(first.metadata, '{"k":"v"}');
		assert.equal(first.v, '1');
		assert.ok(!Number.isNaN(Date.parse(first.created_at)));
	} finally {
		await admin.del(stream);
		admin.destroy();
		await c.quit();
	}
});
