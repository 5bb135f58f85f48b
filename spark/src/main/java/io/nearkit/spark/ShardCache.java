package io.nearkit.spark;

import io.nearkit.CorruptIndexException;
import io.nearkit.Index;
import io.nearkit.NearkitIOException;
import io.nearkit.ViewOptions;
import java.nio.file.Paths;
import java.util.Iterator;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The shards an executor has opened, per JVM: a shard is opened once and then searched by every
 * task that runs on its partition there, so a search batch does not pay the opening again. A shard
 * given by its bytes is read into native memory (each executor JVM holds its own copy); a shard
 * given by its directory is opened as a read-only view of its file, checked against the directory's
 * manifest (the executors of one host share its pages through the page cache). Keys are a model's shard-set token, the way the shards are opened
 * and the shard number.
 */
final class ShardCache {
    private static final ConcurrentHashMap<String, Index> OPEN = new ConcurrentHashMap<>();
    /* A shard file whose layout cannot be viewed (format version 1) is loaded into this JVM instead. */
    private static final ViewOptions VIEW = ViewOptions.builder().loadIfUnviewable(true).build();

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
        return OPEN.computeIfAbsent(key, k -> open(shards.next(), number, k));
    }

    private static String key(String token, boolean viewed, int number) {
        return token + (viewed ? "/view/" : "/bytes/") + number;
    }

    private static Index open(Shard shard, int number, String key) {
        if (shard.dir != null) {
            return view(shard.dir, number);
        }
        try {
            return Index.fromBytes(shard.data);
        } catch (CorruptIndexException e) {
            throw new IllegalStateException("nearkit: shard " + key + " is not a valid nearkit index", e);
        }
    }

    /**
     * Shard {@code number} of the sharded directory {@code dir} as a view of its file, which the
     * Java package checks against the directory's manifest (vector type, metric, dimension, count).
     */
    private static Index view(String dir, int number) {
        try {
            return Index.viewShard(Paths.get(dir), number, VIEW);
        } catch (CorruptIndexException e) {
            throw new IllegalStateException("nearkit: shard " + number + " of " + dir + " does not match the"
                    + " model's manifest or is not a nearkit index: " + e.getMessage(), e);
        } catch (NearkitIOException e) {
            throw new IllegalStateException("nearkit: cannot view shard " + number + " of " + dir + ": the model's"
                    + " directory must be at the same path on every executor and stay there while the model is in"
                    + " use (setViewShards(false) ships the bytes of a fitted model's shards instead): "
                    + e.getMessage(), e);
        }
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
