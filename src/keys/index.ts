export { KeyLayout, keyToken, regionSegments } from './layout.js';
