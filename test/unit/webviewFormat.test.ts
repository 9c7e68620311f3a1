// Durations and metric values as the dashboard (and the host's status texts) show them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, formatMetric } from '../../src/shared/format';

describe('formatDuration', () => {
  it('seconds, then minutes with padded seconds, then hours with padded minutes', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(59.4), '59s');
    assert.equal(formatDuration(59.6), '1m 00s');
    assert.equal(formatDuration(187), '3m 07s');
    assert.equal(formatDuration(3600 + 5 * 60 + 59), '1h 05m');
    assert.equal(formatDuration(50 * 3600), '50h 00m');
  });
});

describe('formatMetric', () => {
  it('four significant digits, exponents for learning rates and huge values, a dash for none', () => {
    assert.equal(formatMetric(1.23456), '1.235');
    assert.equal(formatMetric(0), '0');
    assert.equal(formatMetric(2e-5), '2.00e-5');
    assert.equal(formatMetric(12_345.6), '12,346');
    assert.equal(formatMetric(3_000_000), '3.00e+6');
    assert.equal(formatMetric(-0.5), '-0.5');
    assert.equal(formatMetric(null), '–');
    assert.equal(formatMetric(Number.NaN), '–');
    assert.equal(formatMetric(undefined), '–');
  });
});
