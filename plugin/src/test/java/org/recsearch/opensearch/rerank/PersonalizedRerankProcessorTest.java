package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.net.ConnectException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.Test;
import org.opensearch.action.search.SearchRequest;
import org.opensearch.action.search.SearchResponse;
import org.opensearch.core.action.ActionListener;
import org.opensearch.search.pipeline.PipelineProcessingContext;
import org.opensearch.search.sort.SortOrder;

public class PersonalizedRerankProcessorTest {

    /** A ranker whose answer the test chooses; records what it was sent. */
    static final class FakeRanker implements RankerClient {
        final List<String> users = new ArrayList<>();
        final List<List<Candidate>> sent = new ArrayList<>();
        CompletableFuture<Answer> next;

        @Override
        public CompletableFuture<Answer> rerank(RerankConfig config, String userId, List<Candidate> candidates) {
            users.add(userId);
            sent.add(candidates);
            return next;
        }
    }

    /** Collects the listener's outcome. */
    static final class Result implements ActionListener<SearchResponse> {
        final CompletableFuture<SearchResponse> response = new CompletableFuture<>();

        @Override
        public void onResponse(SearchResponse r) {
            response.complete(r);
        }

        @Override
        public void onFailure(Exception e) {
            response.completeExceptionally(e);
        }

        SearchResponse get() throws Exception {
            return response.get(5, TimeUnit.SECONDS);
        }

        Throwable failure() {
            try {
                response.get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                return e.getCause();
            }
            return null;
        }
    }

    private static PersonalizedRerankProcessor processor(FakeRanker ranker, boolean ignoreFailure, Object... settings) {
        Map<String, Object> config = new HashMap<>();
        config.put("ranker_url", "http://127.0.0.1:1");
        config.put("blend_weight", 1.0);
        for (int i = 0; i < settings.length; i += 2) {
            config.put((String) settings[i], settings[i + 1]);
        }
        return new PersonalizedRerankProcessor.Factory(ranker, System::nanoTime, null)
            .create(Map.of(), "tag", null, ignoreFailure, config, null);
    }

    private static SearchResponse threeHits() {
        return Hits.response(Hits.hit("a", "A", 3f), Hits.hit("b", "B", 2f), Hits.hit("c", "C", 1f));
    }

    private static Result run(PersonalizedRerankProcessor p, SearchRequest request, SearchResponse response) {
        Result r = new Result();
        p.processResponseAsync(request, response, new PipelineProcessingContext(), r);
        return r;
    }

    private static RankerClient.Answer personalized(String... idsBestFirst) {
        List<RankerClient.Scored> out = new ArrayList<>();
        for (int i = 0; i < idsBestFirst.length; i++) {
            out.add(new RankerClient.Scored(idsBestFirst[i], idsBestFirst.length - i));
        }
        return new RankerClient.Answer(true, null, "v3", out);
    }

    @Test
    public void reordersForTheUserAndReportsIt() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.completedFuture(personalized("C", "A", "B"));
        SearchResponse out = run(processor(ranker, false), Hits.request("12347"), threeHits()).get();
        assertEquals(List.of("c", "a", "b"), Hits.docIds(out));
        assertEquals(List.of("12347"), ranker.users);
        assertEquals(List.of("A", "B", "C"), ranker.sent.get(0).stream().map(RankerClient.Candidate::id).toList());
        assertEquals(3f, ranker.sent.get(0).get(0).score(), 0f);
        RerankOutcomeExt o = Hits.outcome(out);
        assertTrue(o.personalized());
        assertNull(o.reason());
        assertEquals(3, o.reranked());
        assertEquals(1.0f, out.getHits().getMaxScore(), 0f);
    }

    @Test
    public void noUserMeansNoCallAndTheOriginalOrder() throws Exception {
        FakeRanker ranker = new FakeRanker();
        SearchResponse out = run(processor(ranker, false), Hits.request(null), threeHits()).get();
        assertEquals(List.of("a", "b", "c"), Hits.docIds(out));
        assertTrue(ranker.users.isEmpty());
        assertEquals("no_user", Hits.outcome(out).reason());
    }

    @Test
    public void unknownUserKeepsTheOriginalOrderWithTheRankersReason() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.completedFuture(new RankerClient.Answer(false, "unknown_user", "v3",
            List.of(new RankerClient.Scored("A", 3), new RankerClient.Scored("B", 2), new RankerClient.Scored("C", 1))));
        SearchResponse out = run(processor(ranker, false), Hits.request("nobody"), threeHits()).get();
        assertEquals(List.of("a", "b", "c"), Hits.docIds(out));
        assertFalse(Hits.outcome(out).personalized());
        assertEquals("unknown_user", Hits.outcome(out).reason());
    }

    @Test
    public void rankerDownWithIgnoreFailureGivesTheOriginalOrderAndTheReason() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.failedFuture(new ConnectException("Connection refused"));
        SearchResponse out = run(processor(ranker, true), Hits.request("12347"), threeHits()).get();
        assertEquals(List.of("a", "b", "c"), Hits.docIds(out));
        assertEquals("ranker_unreachable", Hits.outcome(out).reason());
        assertTrue(Hits.outcome(out).detail().contains("Connection refused"));
    }

    @Test
    public void rankerDownWithoutIgnoreFailureFailsTheSearchWithTheReason() {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.failedFuture(new HttpRankerClient.RankerHttpException(500, "boom"));
        Throwable failure = run(processor(ranker, false), Hits.request("12347"), threeHits()).failure();
        assertNotNull(failure);
        assertTrue(failure.getMessage(), failure.getMessage().contains("ranker_error") && failure.getMessage().contains("HTTP 500"));
    }

    @Test
    public void aSilentRankerTimesOutWithinTheTimeout() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = new CompletableFuture<>(); // never answers
        long start = System.nanoTime();
        SearchResponse out = run(processor(ranker, true, "timeout_ms", 50), Hits.request("12347"), threeHits()).get();
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 4000);
        assertEquals(List.of("a", "b", "c"), Hits.docIds(out));
        assertEquals("ranker_timeout", Hits.outcome(out).reason());
    }

    @Test
    public void aRequestSortedByAFieldIsLeftAlone() throws Exception {
        FakeRanker ranker = new FakeRanker();
        SearchRequest request = Hits.request("12347");
        request.source().sort("price", SortOrder.ASC);
        SearchResponse out = run(processor(ranker, false), request, threeHits()).get();
        assertTrue(ranker.users.isEmpty());
        assertEquals("sorted_by_field", Hits.outcome(out).reason());
    }

    @Test
    public void hitsWithoutIdsAreNotSent() throws Exception {
        FakeRanker ranker = new FakeRanker();
        SearchResponse out = run(processor(ranker, false), Hits.request("12347"),
            Hits.response(Hits.hit("a", null, 3f), Hits.hit("b", null, 2f))).get();
        assertTrue(ranker.users.isEmpty());
        assertEquals("no_ids", Hits.outcome(out).reason());
        assertEquals(List.of("a", "b"), Hits.docIds(out));
    }
}
