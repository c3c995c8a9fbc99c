package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import com.sun.net.httpserver.HttpServer;

/** The HTTP client against a real local server (the JDK's): body, headers, status handling. */
public class HttpRankerClientTest {

    private HttpServer server;
    private HttpRankerClient client;
    private final AtomicReference<String> body = new AtomicReference<>();
    private final AtomicReference<String> auth = new AtomicReference<>();
    private volatile int status = 200;

    @Before
    public void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v1/rerank", exchange -> {
            body.set(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            auth.set(exchange.getRequestHeaders().getFirst("Authorization"));
            byte[] out = (status == 200
                ? "{\"user_id\":\"u\",\"personalized\":true,\"reason\":null,\"model_version\":\"v1\",\"results\":[{\"id\":\"B\",\"score\":2.0},{\"id\":\"A\",\"score\":1.0}]}"
                : "{\"detail\":\"model exploded\"}").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status, out.length);
            exchange.getResponseBody().write(out);
            exchange.close();
        });
        server.start();
        client = new HttpRankerClient(null);
    }

    @After
    public void stop() {
        client.close();
        server.stop(0);
    }

    private RerankConfig config(String apiKey) {
        Map<String, Object> m = new HashMap<>();
        m.put("ranker_url", "http://127.0.0.1:" + server.getAddress().getPort());
        m.put("timeout_ms", 5000);
        if (apiKey != null) {
            m.put("api_key", apiKey);
        }
        return RerankConfig.fromConfig("personalized_rerank", "t", m);
    }

    @Test
    public void postsTheContractAndReadsTheAnswer() throws Exception {
        List<RankerClient.Candidate> hits = List.of(new RankerClient.Candidate("A", 2f), new RankerClient.Candidate("B", 1f));
        RankerClient.Answer a = client.rerank(config("secret"), "u", hits).get(10, TimeUnit.SECONDS);
        assertTrue(a.personalized());
        assertEquals(List.of(new RankerClient.Scored("B", 2.0), new RankerClient.Scored("A", 1.0)), a.results());
        assertEquals("{\"user_id\":\"u\",\"hits\":[{\"id\":\"A\",\"score\":2.0},{\"id\":\"B\",\"score\":1.0}]}", body.get());
        assertEquals("Bearer secret", auth.get());
    }

    @Test
    public void aNon2xxAnswerIsAnErrorWithStatusAndBody() {
        status = 500;
        ExecutionException e = assertThrows(ExecutionException.class,
            () -> client.rerank(config(null), "u", List.of(new RankerClient.Candidate("A", 1f))).get(10, TimeUnit.SECONDS));
        Throwable cause = PersonalizedRerankProcessor.unwrap(e);
        assertTrue(cause instanceof HttpRankerClient.RankerHttpException);
        assertEquals(500, ((HttpRankerClient.RankerHttpException) cause).status());
        assertTrue(cause.getMessage().contains("model exploded"));
        assertEquals("ranker_error", PersonalizedRerankProcessor.reasonOf(cause));
    }
}
