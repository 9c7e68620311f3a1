'use strict';
// Stand-in for sharp (see package.json): loading succeeds, any image call says why it fails.
function sharp() {
  throw new Error('sharp is stubbed in bench/chat (text-only benchmark): image processing is not available');
}
module.exports = sharp;
module.exports.default = sharp;
