package io.fanotifyd.sink;

/**
 * A {@link RecordSink} that keeps records in memory and throws them away when told: what the warm-up and the
 * benchmarks run the pipeline into. One thread only.
 */
public final class BufferSink implements RecordSink {
    private final JsonWriter writer;
    private int recordStart;
    private long records;

    public BufferSink(int capacity) {
        this.writer = new JsonWriter(capacity);
    }

    @Override
    public JsonWriter begin() {
        recordStart = writer.length();
        return writer;
    }

    @Override
    public void commit(int records) {
        this.records += records;
    }

    @Override
    public void abort() {
        writer.truncate(recordStart);
    }

    @Override
    public int pending() {
        return writer.length();
    }

    /** Records committed since this sink was made. */
    public long records() {
        return records;
    }

    /** Forgets what was written. */
    public void reset() {
        writer.reset();
    }
}
