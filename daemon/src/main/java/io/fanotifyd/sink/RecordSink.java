package io.fanotifyd.sink;

/**
 * Where a pipeline writes its records, each one whole or not at all: {@link #begin()} gives the buffer and holds
 * off every other writer until {@link #commit} keeps what was appended since, or {@link #abort()} takes it back
 * (an encoder that failed half-way leaves no half line). An event's record and its alerts go in one such
 * transaction, so the alerts follow their event in the stream.
 */
public interface RecordSink {
    /** The buffer to append to; until {@link #commit} or {@link #abort}, this thread alone writes to the sink. */
    JsonWriter begin();

    /** Keeps what was appended since {@link #begin()}, as {@code records} whole records. */
    void commit(int records);

    /** Takes back what was appended since {@link #begin()}. */
    void abort();

    /** Bytes kept and not yet handed on (any thread; a hint, read without the lock). */
    int pending();
}
