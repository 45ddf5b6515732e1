import { EmbeddedStore, type EmbeddedStoreOptions } from './embedded.ts';
import { RedisStore, type RedisStoreOptions } from './redis.ts';
import type { KnowledgeStore } from './store.ts';

/** A Redis store for redis:// or rediss:// URLs, else the embedded store in that directory. */
export async function openStore(target: string, options: EmbeddedStoreOptions & RedisStoreOptions = {}): Promise<KnowledgeStore> {
  return /^rediss?:\/\//.test(target) ? RedisStore.open(target, options) : EmbeddedStore.open(target, options);
}
