package io.nearkit.spark;

import io.nearkit.CorruptIndexException;
import io.nearkit.Index;
import io.nearkit.NearkitIOException;
import java.nio.file.Paths;
import java.util.Iterator;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The shards an executor has opened, per JVM: a shard is opened once and then searched by every
 * task that runs on its partition there, so a search batch does not pay the opening again. A shard
 * given by its bytes is read into native memory (each executor JVM holds its own copy); a shard
 * given by its file is opened as a read-only view of the file (the executors of one host share its
 * pages through the page cache). Keys are a model's shard-set token, the way the shards are opened
 * and the shard number.
 */
final class ShardCache {
    private static final ConcurrentHashMap<String, Index> OPEN = new ConcurrentHashMap<>();

    private ShardCache() {
    }

    /**
     * The open index of shard {@code number} of shard set {@code token}, opened from its bytes or
     * viewed from its file as {@code viewed} says; on a miss it is opened from the partition's shard
     * (read from {@code shards} only then). Null for an empty partition.
     */
    static Index get(String token, boolean viewed, int number, Iterator<Shard> shards) {
        String key = key(token, viewed, number);
        Index index = OPEN.get(key);
        if (index != null || !shards.hasNext()) {
            return index;
        }
        return OPEN.computeIfAbsent(key, k -> open(shards.next(), k));
    }

    private static String key(String token, boolean viewed, int number) {
        return token + (viewed ? "/view/" : "/bytes/") + number;
    }

    private static Index open(Shard shard, String key) {
        if (shard.file != null) {
            return view(shard, key);
        }
        try {
            return Index.fromBytes(shard.data);
        } catch (CorruptIndexException e) {
            throw new IllegalStateException("nearkit: shard " + key + " is not a valid nearkit index", e);
        }
    }

    /** A view of the shard's file, checked against what the model's manifest said of it. */
    private static Index view(Shard shard, String key) {
        Index index;
        try {
            index = Index.view(Paths.get(shard.file));
        } catch (NearkitIOException e) {
            throw new IllegalStateException("nearkit: cannot view shard " + key + " (" + shard.file + "): the"
                    + " model's directory must be at the same path on every executor, or set viewShards to false"
                    + " to ship the shards' bytes: " + e.getMessage(), e);
        }
        Shard.Info i = shard.info;
        if (index.size() != i.count || index.dimension() != i.dimension) {
            long size = index.size();
            int dimension = index.dimension();
            index.close();
            throw new IllegalStateException("nearkit: shard file " + shard.file + " holds " + size + " vectors of "
                    + dimension + " dimensions; the model's manifest says " + i.count + " of " + i.dimension);
        }
        return index;
    }

    /** Whether every shard of shard set {@code token} this JVM has opened is a view (and one is open). */
    static boolean allViews(String token) {
        boolean any = false;
        for (java.util.Map.Entry<String, Index> e : OPEN.entrySet()) {
            if (e.getKey().startsWith(token + "/")) {
                any = true;
                if (!e.getValue().isView()) {
                    return false;
                }
            }
        }
        return any;
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
