'use strict';

/*
 * End-to-end support: a fresh PostgreSQL database, `memctl migrate`, the mock
 * LLM server, and memworker + memsearch as child processes, all configured
 * through the environment exactly as an operator would (README
 * "Configuration"). Everything listens on loopback only.
 *
 * Needs (scripts/test.sh exports them): MW_TEST_BIN (the build folder),
 * MW_TEST_PG_PORT, MW_TEST_REDIS_PORT; optional MW_TEST_PG_HOST, MW_TEST_PG_USER.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn, execFile } = require('node:child_process');

const env = process.env;
const BIN = env.MW_TEST_BIN;
const PG_HOST = env.MW_TEST_PG_HOST || '127.0.0.1';
const PG_PORT = env.MW_TEST_PG_PORT;
const PG_USER = env.MW_TEST_PG_USER || 'postgres';
const REDIS_PORT = env.MW_TEST_REDIS_PORT;
const DIMS = 64;

/** Where a program is: BIN/name, else BIN/tests/name (as tests/support/libtestenv.c looks). */
function binary(name) {
	if (!BIN) return null;
	for (const p of [path.join(BIN, name), path.join(BIN, 'tests', name)]) {
		try {
			fs.accessSync(p, fs.constants.X_OK);
			return p;
		} catch {
			/* try the next */
		}
	}
	return null;
}

/** false when the end-to-end tests can run, else why not (printed as the SKIP reason). */
function skipReason() {
	const missingEnv = ['MW_TEST_BIN', 'MW_TEST_PG_PORT', 'MW_TEST_REDIS_PORT'].filter((n) => !env[n]);
	if (missingEnv.length) return `${missingEnv.join(', ')} not set (scripts/test.sh sets them): end-to-end tests need the built daemons, PostgreSQL and Redis`;
	const missing = ['memworker', 'memsearch', 'memctl', 'mockllm'].filter((n) => !binary(n));
	if (missing.length) return `not built yet in ${BIN}: ${missing.join(', ')}`;
	let pg;
	try {
		pg = require('pg');
	} catch {
		return "the 'pg' devDependency is not installed (run npm ci)";
	}
	void pg;
	return false;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function quoteIdent(s) {
	return `"${s.replace(/"/g, '""')}"`;
}

async function adminQuery(sql) {
	const { Client } = require('pg');
	const c = new Client({ host: PG_HOST, port: Number(PG_PORT), user: PG_USER, database: 'postgres' });
	await c.connect();
	try {
		return await c.query(sql);
	} finally {
		await c.end();
	}
}

/** Keeps the last `max` characters a process wrote, for failure messages. */
class Tail {
	constructor(max = 20000) {
		this.max = max;
		this.text = '';
	}
	push(chunk) {
		this.text += chunk.toString();
		if (this.text.length > this.max) this.text = this.text.slice(-this.max);
	}
}

/** A running child process with its output kept. */
class Proc {
	constructor(name, file, args, options) {
		this.name = name;
		this.out = new Tail();
		this.exited = null;
		this.child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
		this.child.stdout.on('data', (d) => this.out.push(d));
		this.child.stderr.on('data', (d) => this.out.push(d));
		this.exit = new Promise((resolve) => {
			this.child.once('exit', (code, signal) => {
				this.exited = { code, signal };
				resolve(this.exited);
			});
			this.child.once('error', (err) => {
				this.exited = { code: null, signal: null, error: err };
				this.out.push(`spawn error: ${err.message}\n`);
				resolve(this.exited);
			});
		});
	}

	get running() {
		return this.exited === null;
	}

	describe() {
		const how = this.exited ? ` (exited: ${JSON.stringify(this.exited)})` : '';
		return `${this.name}${how}, last output:\n${this.out.text || '(none)'}`;
	}

	/** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
	async stop(graceMs = 10000) {
		this.stopped = true;
		if (!this.running) return this.exited;
		this.child.kill('SIGTERM');
		const t = setTimeout(() => this.running && this.child.kill('SIGKILL'), graceMs);
		const r = await this.exit;
		clearTimeout(t);
		return r;
	}
}

/** Runs a program to its end; resolves {code, stdout, stderr}. */
function run(file, args, options) {
	return new Promise((resolve) => {
		execFile(file, args, { ...options, timeout: 120000 }, (err, stdout, stderr) => {
			resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, error: err });
		});
	});
}

/**
 * The whole stack for one test file: fresh database, migrated; mockllm;
 * memworker and memsearch on streams of their own.
 */
class Stack {
	constructor() {
		const tag = `${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
		this.db = `mwnode_${tag}`;
		this.stream = `mwnode:${tag}:ingest`;
		this.searchStream = `mwnode:${tag}:search`;
		this.redisUrl = `redis://127.0.0.1:${REDIS_PORT}`;
		this.cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'mwnode-e2e-')); // no stray .env is read
		this.procs = {};
		this.llmPort = null;
	}

	/** The environment of every program: a clean base (no MEM0_* from the caller's shell) plus the stack's settings. */
	env(extra = {}) {
		const base = {};
		for (const k of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) if (env[k] !== undefined) base[k] = env[k];
		return {
			...base,
			POSTGRES_HOST: PG_HOST,
			POSTGRES_PORT: String(PG_PORT),
			POSTGRES_USER: PG_USER,
			POSTGRES_DB: this.db,
			MEM0_EMBEDDING_DIMS: String(DIMS),
			// local (the default) allows 100 dimensions only: these are the mock's
			MEM0_MODELS: 'openai',
			...extra,
		};
	}

	daemonEnv() {
		return this.env({
			MEM0_MODELS: 'openai',
			OPENAI_BASE_URL: `http://127.0.0.1:${this.llmPort}/v1`,
			OPENAI_API_KEY: 'sk-e2e-not-a-secret',
			REDIS_URL: this.redisUrl,
			MEM0_STREAM: this.stream,
			MEM0_SEARCH_STREAM: this.searchStream,
			MEM0_BATCH_WINDOW_MS: '20',
		});
	}

	async createDatabase() {
		await adminQuery(`CREATE DATABASE ${quoteIdent(this.db)}`);
		this.dbCreated = true;
	}

	async migrate() {
		const r = await run(binary('memctl'), ['migrate'], { env: this.env(), cwd: this.cwd });
		if (r.code !== 0) throw new Error(`memctl migrate exited ${r.code}:\n${r.stdout}${r.stderr}`);
		return r;
	}

	async startMockLLM() {
		const p = new Proc('mockllm', binary('mockllm'), ['--port', '0', '--dims', String(DIMS)], { env: this.env(), cwd: this.cwd });
		this.procs.mockllm = p;
		const deadline = Date.now() + 15000;
		while (Date.now() < deadline) {
			const m = /mockllm listening on 127\.0\.0\.1:(\d+)/.exec(p.out.text);
			if (m) {
				this.llmPort = Number(m[1]);
				return this.llmPort;
			}
			if (!p.running) break;
			await sleep(20);
		}
		throw new Error(`mockllm did not print 'mockllm listening on 127.0.0.1:PORT': ${p.describe()}`);
	}

	startDaemon(name) {
		const p = new Proc(name, binary(name), [], { env: this.daemonEnv(), cwd: this.cwd });
		this.procs[name] = p;
		return p;
	}

	/**
	 * Waits until the daemon's consumer group exists on its stream (so
	 * entries added from now on are read) while the process stays up.
	 */
	async waitForGroup(redis, name, stream, timeoutMs = 20000) {
		const p = this.procs[name];
		const deadline = Date.now() + timeoutMs;
		while (Date.now() < deadline) {
			if (!p.running) throw new Error(`${name} exited during start-up: ${p.describe()}`);
			try {
				const groups = await redis.xInfoGroups(stream);
				if (groups.length > 0) return groups.map((g) => g.name);
			} catch {
				/* no stream yet */
			}
			await sleep(50);
		}
		throw new Error(`${name} created no consumer group on ${stream} within ${timeoutMs} ms: ${p.describe()}`);
	}

	/** Stops every process and drops the database and the streams. */
	async teardown(redis) {
		await Promise.all(Object.values(this.procs).map((p) => p.stop()));
		if (redis) {
			try {
				const keys = await redis.keys(`${this.stream.replace(/:ingest$/, '')}*`);
				if (keys.length) await redis.del(keys);
			} catch {
				/* best effort */
			}
		}
		if (this.dbCreated) {
			try {
				await adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(this.db)} WITH (FORCE)`);
			} catch {
				/* best effort */
			}
		}
		fs.rmSync(this.cwd, { recursive: true, force: true });
	}

	/** Throws if a daemon has exited (unless it was stopped on purpose): nothing to wait for then. */
	assertRunning() {
		for (const p of Object.values(this.procs)) {
			if (!p.running && !p.stopped) throw new Error(`${p.name} is not running: ${p.describe()}`);
		}
	}

	/** Output of every process, for a failed assertion's message. */
	logs() {
		return Object.values(this.procs).map((p) => `--- ${p.describe()}`).join('\n');
	}
}

/**
 * Calls `probe` until it returns a truthy value or the time is up; then
 * throws with `describe()`. `check()` runs first each round and may throw to
 * give up at once (a daemon died).
 */
async function poll(probe, { timeoutMs = 60000, intervalMs = 250, describe = () => '', check } = {}) {
	const deadline = Date.now() + timeoutMs;
	let last;
	while (Date.now() < deadline) {
		if (check) check();
		try {
			const v = await probe();
			if (v) return v;
			last = undefined;
		} catch (err) {
			last = err;
		}
		await sleep(intervalMs);
	}
	throw new Error(`gave up after ${timeoutMs} ms${last ? ` (last error: ${last.message})` : ''}\n${describe()}`);
}

module.exports = { Stack, skipReason, poll, binary, sleep, DIMS };
