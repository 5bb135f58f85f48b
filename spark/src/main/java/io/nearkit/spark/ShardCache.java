package io.nearkit.spark;

import io.nearkit.CorruptIndexException;
import io.nearkit.Index;
import java.util.Iterator;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The shards an executor has opened, per JVM: a shard is read from its bytes once and then searched
 * by every task that runs on its partition there, so a search batch does not pay the load again.
 * Keys are a model's shard-set token and the shard number.
 */
final class ShardCache {
    private static final ConcurrentHashMap<String, Index> OPEN = new ConcurrentHashMap<>();

    private ShardCache() {
    }

    /**
     * The open index of shard {@code number} of shard set {@code token}; on a miss it is opened from
     * the partition's shard (read from {@code shards} only then). Null for an empty partition.
     */
    static Index get(String token, int number, Iterator<Shard> shards) {
        String key = token + "/" + number;
        Index index = OPEN.get(key);
        if (index != null || !shards.hasNext()) {
            return index;
        }
        return OPEN.computeIfAbsent(key, k -> open(shards.next(), k));
    }

    private static Index open(Shard shard, String key) {
        try {
            return Index.fromBytes(shard.data);
        } catch (CorruptIndexException e) {
            throw new IllegalStateException("nearkit: shard " + key + " is not a valid nearkit index", e);
        }
    }

    /** Closes and forgets the shards of shard set {@code token} this JVM has opened. */
    static int release(String token) {
        int closed = 0;
        for (Iterator<String> it = OPEN.keySet().iterator(); it.hasNext();) {
            String key = it.next();
            if (key.startsWith(token + "/")) {
                Index index = OPEN.remove(key);
                if (index != null) {
                    index.close();
                    closed++;
                }
            }
        }
        return closed;
    }
}
