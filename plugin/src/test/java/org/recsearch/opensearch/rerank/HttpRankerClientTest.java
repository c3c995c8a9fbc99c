package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import com.sun.net.httpserver.HttpServer;

/** The HTTP client against a real local server (the JDK's, or a raw socket for misbehaving peers). */
public class HttpRankerClientTest {

    private static final String ANSWER =
        "{\"user_id\":\"u\",\"personalized\":true,\"reason\":null,\"model_version\":\"v1\",\"results\":[{\"id\":\"B\",\"score\":2.0},{\"id\":\"A\",\"score\":1.0}]}";
    private static final long MAX_BYTES = 4096;

    private HttpServer server;
    private ExecutorService threads;
    private HttpRankerClient client;
    private final AtomicReference<String> body = new AtomicReference<>();
    private final AtomicReference<String> auth = new AtomicReference<>();
    private final AtomicReference<String> keystoreKey = new AtomicReference<>();
    private final java.util.concurrent.atomic.AtomicInteger healthChecks = new java.util.concurrent.atomic.AtomicInteger();
    private final AtomicReference<String> healthAuth = new AtomicReference<>();
    private volatile int status = 200;
    private volatile String reply = ANSWER;
    private volatile boolean chunked = false;

    @Before
    public void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v1/rerank", exchange -> {
            body.set(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            auth.set(exchange.getRequestHeaders().getFirst("Authorization"));
            byte[] out = (status == 200 ? reply : "{\"detail\":\"model exploded\"}" + "x".repeat(5000)).getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status, chunked ? 0 : out.length);
            try (OutputStream o = exchange.getResponseBody()) {
                o.write(out);
            } catch (IOException closedByTheClient) {
                // the client stops reading past its cap
            }
            exchange.close();
        });
        server.createContext("/healthz", exchange -> {
            healthChecks.incrementAndGet();
            healthAuth.set(exchange.getRequestHeaders().getFirst("Authorization"));
            byte[] out = "{\"status\":\"ok\"}".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, out.length);
            try (OutputStream o = exchange.getResponseBody()) {
                o.write(out);
            }
            exchange.close();
        });
        server.start();
        threads = Executors.newFixedThreadPool(2);
        client = new HttpRankerClient(threads, keystoreKey::get, MAX_BYTES);
    }

    @After
    public void stop() {
        client.close();
        threads.shutdownNow();
        server.stop(0);
    }

    private static RerankConfig config(int port, String apiKey, int timeoutMs) {
        Map<String, Object> m = new HashMap<>();
        m.put("ranker_url", "http://127.0.0.1:" + port);
        m.put("timeout_ms", timeoutMs);
        if (apiKey != null) {
            m.put("api_key", apiKey);
        }
        return RerankConfig.fromConfig("personalized_rerank", "t", m);
    }

    private RerankConfig config(String apiKey) {
        return config(server.getAddress().getPort(), apiKey, 5000);
    }

    private static final List<RankerClient.Candidate> ONE = List.of(new RankerClient.Candidate("A", 1f));

    private static Throwable failureOf(CompletableFuture<RankerClient.Answer> answer) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> answer.get(20, TimeUnit.SECONDS));
        return PersonalizedRerankProcessor.unwrap(e);
    }

    @Test
    public void postsTheContractAndReadsTheAnswer() throws Exception {
        List<RankerClient.Candidate> hits = List.of(new RankerClient.Candidate("A", 2f), new RankerClient.Candidate("B", 1f));
        RankerClient.Answer a = client.rerank(config("secret"), "u", null, hits).get(10, TimeUnit.SECONDS);
        assertTrue(a.personalized());
        assertEquals(List.of(new RankerClient.Scored("B", 2.0), new RankerClient.Scored("A", 1.0)), a.results());
        assertEquals("{\"user_id\":\"u\",\"hits\":[{\"id\":\"A\",\"score\":2.0},{\"id\":\"B\",\"score\":1.0}]}", body.get());
        assertEquals("Bearer secret", auth.get());
    }

    @Test
    public void theKeystoreKeyIsSentWhenThePipelineHasNoneAndThePipelinesKeyWins() throws Exception {
        keystoreKey.set("from-keystore");
        client.rerank(config(null), "u", null, ONE).get(10, TimeUnit.SECONDS);
        assertEquals("Bearer from-keystore", auth.get());
        client.rerank(config("from-pipeline"), "u", null, ONE).get(10, TimeUnit.SECONDS);
        assertEquals("Bearer from-pipeline", auth.get());
        keystoreKey.set(null);
        client.rerank(config(null), "u", null, ONE).get(10, TimeUnit.SECONDS);
        assertEquals(null, auth.get());
    }

    @Test
    public void aNon2xxAnswerIsAnErrorWithStatusAndTheStartOfTheBodyForTheLog() {
        status = 500;
        Throwable cause = failureOf(client.rerank(config(null), "u", null, ONE));
        assertTrue(cause instanceof HttpRankerClient.RankerHttpException);
        assertEquals(500, ((HttpRankerClient.RankerHttpException) cause).status());
        assertTrue(cause.getMessage().contains("model exploded"));
        assertTrue(cause.getMessage(), cause.getMessage().length() < 400);
        assertEquals("ranker_error", PersonalizedRerankProcessor.reasonOf(cause));
    }

    @Test
    public void aReplyLongerThanTheCapIsRefusedWithOrWithoutContentLength() {
        reply = "{\"personalized\":true,\"results\":[" + "{\"id\":\"x\",\"score\":1.0},".repeat(400) + "{\"id\":\"y\",\"score\":1.0}]}";
        for (boolean c : List.of(false, true)) {
            chunked = c;
            Throwable cause = failureOf(client.rerank(config(null), "u", null, ONE));
            assertTrue(String.valueOf(cause), cause instanceof CappedBody.TooLarge || cause.getCause() instanceof CappedBody.TooLarge);
            assertEquals("ranker_reply_too_large", PersonalizedRerankProcessor.reasonOf(cause));
        }
    }

    /**
     * A peer that sends its headers at once and then one byte at a time: the call ends at timeout_ms (the body read
     * included) and the exchange is cancelled, so the peer sees its connection closed instead of holding a thread.
     */
    @Test
    public void aTricklingPeerIsCutOffAtTheTimeout() throws Exception {
        try (ServerSocket trickler = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            CompletableFuture<Boolean> peerSawClose = CompletableFuture.supplyAsync(() -> {
                try (Socket s = trickler.accept()) {
                    InputStream in = s.getInputStream();
                    in.read(new byte[8192]);
                    OutputStream out = s.getOutputStream();
                    out.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    for (int i = 0; i < 600; i++) { // up to a minute of trickling
                        Thread.sleep(100);
                        out.write(' ');
                        out.flush();
                    }
                    return false;
                } catch (IOException closed) {
                    return true;
                } catch (InterruptedException e) {
                    return false;
                }
            });
            Throwable cause = failureOf(client.rerank(config(trickler.getLocalPort(), null, 300), "u", null, ONE));
            assertEquals("ranker_timeout", PersonalizedRerankProcessor.reasonOf(cause));
            assertTrue("the exchange is closed, not left to trickle", peerSawClose.get(30, TimeUnit.SECONDS));
        }
    }

    @Test
    public void warmingSendsOneUnauthenticatedHealthCheckToTheRankersOriginAndNeverFails() throws Exception {
        client.warm(config("secret")).get(10, TimeUnit.SECONDS);
        assertEquals(1, healthChecks.get());
        assertEquals(null, healthAuth.get()); // the pipeline's key is for /v1/rerank only
        assertEquals(null, body.get()); // no rerank was asked, so the ranker records no answer
        // a ranker that is down: warming completes normally, the first search reports the failure as before
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        assertEquals(null, client.warm(config(closedPort, null, 200)).get(10, TimeUnit.SECONDS));
    }
}
