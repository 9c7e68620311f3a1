import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { smallestIndex } from '../../src/core/datasets/checkQueue';

describe('the Datasets view checks small files first', () => {
  it('takes the smallest, the first of equal ones, unknown sizes last', () => {
    assert.equal(smallestIndex([52_428_800, 3_700, 120]), 2);
    assert.equal(smallestIndex([10, 10, 20]), 0);
    assert.equal(smallestIndex([undefined, 5_000_000]), 1);
    assert.equal(smallestIndex([undefined]), 0);
  });
});
