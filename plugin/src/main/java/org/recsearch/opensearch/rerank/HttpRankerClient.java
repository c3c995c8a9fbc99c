package org.recsearch.opensearch.rerank;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

import org.opensearch.secure_sm.AccessController;

/**
 * {@link RankerClient} over the JDK's {@link HttpClient}: {@code sendAsync}, so no OpenSearch thread waits on the
 * network. One client (one connection pool) serves every processor of the node.
 */
public final class HttpRankerClient implements RankerClient, AutoCloseable {

    /** Ranker error bodies are cut to this length in messages. */
    private static final int ERROR_BODY_CHARS = 300;

    private final HttpClient http;

    /** @param executor runs the client's completion stages; null for the JDK's default pool. */
    public HttpRankerClient(Executor executor) {
        // Building the client opens a selector; in OpenSearch 3.x the agent checks socket use against the policy.
        this.http = AccessController.doPrivileged(() -> {
            HttpClient.Builder b = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .followRedirects(HttpClient.Redirect.NEVER);
            if (executor != null) {
                b.executor(executor);
            }
            return b.build();
        });
    }

    @Override
    public CompletableFuture<Answer> rerank(RerankConfig config, String userId, List<Candidate> candidates) {
        byte[] body;
        try {
            body = RankerProtocol.requestBody(userId, candidates);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        HttpRequest.Builder req = HttpRequest.newBuilder(config.rankerUrl())
            .timeout(Duration.ofMillis(config.timeoutMs()))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (config.apiKey() != null) {
            req.header("Authorization", "Bearer " + config.apiKey());
        }
        HttpRequest request = req.build();
        CompletableFuture<HttpResponse<InputStream>> sent = AccessController.doPrivileged(
            () -> http.sendAsync(request, HttpResponse.BodyHandlers.ofInputStream()));
        return sent.thenApply(HttpRankerClient::read);
    }

    private static Answer read(HttpResponse<InputStream> response) {
        try (InputStream in = response.body()) {
            int status = response.statusCode();
            if (status / 100 != 2) {
                String text = new String(in.readNBytes(ERROR_BODY_CHARS), StandardCharsets.UTF_8);
                throw new RankerHttpException(status, text);
            }
            return RankerProtocol.parseAnswer(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        http.shutdownNow();
    }

    /** The ranker answered with a non-2xx status. */
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
