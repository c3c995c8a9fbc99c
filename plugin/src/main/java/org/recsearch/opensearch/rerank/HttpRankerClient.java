package org.recsearch.opensearch.rerank;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import org.opensearch.secure_sm.AccessController;

/**
 * {@link RankerClient} over the JDK's {@link HttpClient}: {@code sendAsync} with the body read asynchronously and
 * capped, so no thread waits on the network. {@code timeout_ms} bounds the whole call, body included: past it the
 * exchange is cancelled (its connection closed), so a peer that trickles its reply holds nothing. One client (one
 * connection pool) serves every processor of the node.
 */
public final class HttpRankerClient implements RankerClient, AutoCloseable {

    /** Ranker error bodies are cut to this length; they go to the node's log only, never to search clients. */
    private static final int ERROR_BODY_BYTES = 300;

    private final HttpClient http;
    private final Supplier<String> keystoreApiKey;
    private final long maxResponseBytes;

    /**
     * @param executor         runs the client's completion stages: a bounded pool that never rejects (the JDK
     *                         client shuts itself down when its executor rejects a task)
     * @param keystoreApiKey   the node keystore's key, used when a pipeline sets no {@code api_key} (may give null)
     * @param maxResponseBytes the longest 2xx reply read; longer is a {@link CappedBody.TooLarge} failure
     */
    public HttpRankerClient(Executor executor, Supplier<String> keystoreApiKey, long maxResponseBytes) {
        this.keystoreApiKey = keystoreApiKey;
        this.maxResponseBytes = maxResponseBytes;
        // Building the client opens a selector; in OpenSearch 3.x the agent checks socket use against the policy.
        this.http = AccessController.doPrivileged(() -> HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .followRedirects(HttpClient.Redirect.NEVER)
            .executor(executor)
            .build());
    }

    @Override
    public CompletableFuture<Answer> rerank(RerankConfig config, String userId, String queryId, List<Candidate> candidates,
                                            Page page) {
        byte[] body;
        try {
            body = RankerProtocol.requestBody(userId, queryId, candidates, page);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        HttpRequest.Builder req = HttpRequest.newBuilder(config.rankerUrl())
            .timeout(Duration.ofMillis(config.timeoutMs()))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        String apiKey = config.apiKey() != null ? config.apiKey() : keystoreApiKey.get();
        if (apiKey != null) {
            req.header("Authorization", "Bearer " + apiKey);
        }
        HttpRequest request = req.build();
        CompletableFuture<HttpResponse<byte[]>> sent = AccessController.doPrivileged(
            () -> http.sendAsync(request, CappedBody.handler(maxResponseBytes, ERROR_BODY_BYTES)));
        CompletableFuture<Answer> answer = sent.thenApply(HttpRankerClient::read)
            .orTimeout(config.timeoutMs(), TimeUnit.MILLISECONDS);
        // HttpRequest.timeout covers the headers only: the deadline above covers the body too, and cancelling the
        // exchange closes its connection, so a trickling peer is cut off at timeout_ms.
        answer.whenComplete((a, error) -> {
            if (error != null) {
                sent.cancel(true);
            }
        });
        return answer;
    }

    /**
     * {@code GET /healthz} on the ranker's origin, its answer ignored: the first exchange loads the client's classes
     * and opens a pooled connection (over a 200 ms {@code timeout_ms} on a busy node), so the pipeline's first
     * search does not time out for it. Sent when a pipeline is created; never authenticated, never fails.
     */
    @Override
    public CompletableFuture<Void> warm(RerankConfig config) {
        HttpRequest request;
        try {
            request = HttpRequest.newBuilder(config.rankerUrl().resolve("/healthz"))
                .timeout(Duration.ofSeconds(5))
                .header("Accept", "application/json")
                .GET()
                .build();
        } catch (IllegalArgumentException e) {
            return CompletableFuture.completedFuture(null);
        }
        return AccessController.doPrivileged(
                () -> http.sendAsync(request, CappedBody.handler(ERROR_BODY_BYTES, ERROR_BODY_BYTES)))
            .handle((response, error) -> null);
    }

    private static Answer read(HttpResponse<byte[]> response) {
        int status = response.statusCode();
        if (status / 100 != 2) {
            throw new RankerHttpException(status, new String(response.body(), StandardCharsets.UTF_8));
        }
        try {
            return RankerProtocol.parseAnswer(new ByteArrayInputStream(response.body()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        http.shutdownNow();
    }

    /** The ranker answered with a non-2xx status; the message (with the start of the body) is for the node's log. */
    public static final class RankerHttpException extends RuntimeException {
        private final int status;

        public RankerHttpException(int status, String body) {
            super("ranker answered HTTP " + status + (body.isBlank() ? "" : ": " + body.strip()));
            this.status = status;
        }

        public int status() {
            return status;
        }
    }
}
