import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatCount, plural } from '../../src/shared/format';

test('plural: singular only for exactly one, with thousands separators', () => {
  assert.equal(plural(1, 'error'), '1 error');
  assert.equal(plural(0, 'error'), '0 errors');
  assert.equal(plural(2, 'problem'), '2 problems');
  assert.equal(plural(12345, 'record'), '12,345 records');
  assert.equal(plural(3, 'entry', 'entries'), '3 entries');
});

test('formatCount: thousands separators, rounds', () => {
  assert.equal(formatCount(1234567), '1,234,567');
  assert.equal(formatCount(999), '999');
  assert.equal(formatCount(1499.6), '1,500');
});

test('formatBytes: bytes below 1 KB stay in bytes (tree and preview agree)', () => {
  assert.equal(formatBytes(560), '560 B');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(5 * 1024 * 1024), '5.0 MB');
  assert.equal(formatBytes(3 * 1024 ** 3), '3.00 GB');
});
