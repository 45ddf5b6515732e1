/** The seeded random feeds live in spec proper (production code uses them too); re-exported for the test helpers here. */
export { type FeedGen, gen, randomFeeds } from '../random-feeds.ts';
