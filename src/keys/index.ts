export { KeyLayout, keyToken, regionSegments } from './layout.js';
export { checkWellFormed, loneSurrogateAt } from './well-formed.js';
