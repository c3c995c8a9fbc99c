package org.recsearch.opensearch.rerank;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * A response body read asynchronously into memory, at most {@code max} bytes. No thread waits on the network while
 * the body trickles in; the caller's deadline cancels the exchange.
 *
 * <p>{@code truncate} false (a 2xx answer): a longer body (or a longer {@code Content-Length}) fails with
 * {@link TooLarge} and the rest is not read. {@code truncate} true (an error answer, kept for the node's log): the
 * first {@code max} bytes, and the rest is not read.
 */
final class CappedBody implements HttpResponse.BodySubscriber<byte[]> {

    /** The ranker's reply is longer than the node allows ({@code recsearch.rerank.max_response_bytes}). */
    static final class TooLarge extends IOException {
        TooLarge(long max) {
            super("the ranker's reply is longer than " + max + " bytes (recsearch.rerank.max_response_bytes)");
        }
    }

    private final long max;
    private final boolean truncate;
    private final long announced;
    private final CompletableFuture<byte[]> result = new CompletableFuture<>();
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    private Flow.Subscription subscription;

    CappedBody(long max, boolean truncate, long announcedLength) {
        this.max = max;
        this.truncate = truncate;
        this.announced = announcedLength;
    }

    /** The handler: 2xx bodies capped at {@code maxBytes}, others cut to {@code errorBytes}. */
    static HttpResponse.BodyHandler<byte[]> handler(long maxBytes, int errorBytes) {
        return info -> {
            boolean ok = info.statusCode() / 100 == 2;
            long length = info.headers().firstValueAsLong("Content-Length").orElse(-1L);
            return new CappedBody(ok ? maxBytes : errorBytes, !ok, length);
        };
    }

    @Override
    public CompletionStage<byte[]> getBody() {
        return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        if (!truncate && announced > max) {
            s.cancel();
            result.completeExceptionally(new TooLarge(max));
            return;
        }
        s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
        if (result.isDone()) {
            return;
        }
        for (ByteBuffer b : items) {
            long room = max - buffer.size();
            if (b.remaining() > room) {
                subscription.cancel();
                if (truncate) {
                    copy(b, (int) room);
                    result.complete(buffer.toByteArray());
                } else {
                    result.completeExceptionally(new TooLarge(max));
                }
                return;
            }
            copy(b, b.remaining());
        }
    }

    private void copy(ByteBuffer b, int n) {
        byte[] chunk = new byte[n];
        b.get(chunk);
        buffer.write(chunk, 0, n);
    }

    @Override
    public void onError(Throwable t) {
        result.completeExceptionally(t);
    }

    @Override
    public void onComplete() {
        result.complete(buffer.toByteArray());
    }
}
