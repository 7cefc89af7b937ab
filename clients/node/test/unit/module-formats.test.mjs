// The package loads as CommonJS and as ESM (package.json "exports"), with one
// copy of the classes: an error thrown by the CJS code is instanceof the ESM export.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as esm from '@memworker/client';

const require = createRequire(import.meta.url);
const cjs = require('@memworker/client');

test('ESM and CommonJS entry points export the same objects', () => {
	const names = ['MemoryClient', 'getMemoryClient', 'MemoryError', 'MemoryBadRequestError', 'MemoryTimeoutError',
		'MemoryUnavailableError', 'MemoryNotFoundError', 'DEFAULTS', 'OPS', 'ENTRY_VERSION'];
	for (const n of names) {
		assert.ok(esm[n] !== undefined, `ESM export ${n}`);
		assert.equal(esm[n], cjs[n], n);
	}
});

test('errors from the client are instances of the ESM classes', async () => {
	const c = new esm.MemoryClient({ logger: null });
	await assert.rejects(c.search('', {}, 1), (e) => e instanceof esm.MemoryBadRequestError && e instanceof esm.MemoryError);
	await c.quit();
});

test('package.json maps require and import, and ships the type declarations', () => {
	const pkg = require('../../package.json');
	assert.equal(pkg.name, '@memworker/client');
	assert.equal(pkg.exports['.'].require, './index.js');
	assert.equal(pkg.exports['.'].import, './index.mjs');
	assert.equal(pkg.exports['.'].types, './index.d.ts');
	assert.equal(pkg.types, './index.d.ts');
});
