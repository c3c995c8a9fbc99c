package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.junit.AfterClass;
import org.junit.Test;
import org.opensearch.action.search.SearchRequest;
import org.opensearch.action.search.SearchResponse;
import org.opensearch.search.SearchHit;
import org.opensearch.search.pipeline.PipelineProcessingContext;

/**
 * The page protocol: the processor sends its blend weight and the page it will show (the slots of the hits sent, at
 * their places in the whole ordering), and a ranker that answers {@code blended: true} is shown exactly as it
 * answered; a ranker without {@code blended} is blended here as before.
 */
public class BlendedAnswerTest {

    private static final ExecutorService COMPLETIONS = Executors.newFixedThreadPool(2);
    private static final RankerUrlAllowList LOOPBACK =
        new RankerUrlAllowList(List.of(RankerUrlAllowList.Entry.parse("http://127.0.0.1:*")));

    @AfterClass
    public static void stopPool() {
        COMPLETIONS.shutdownNow();
    }

    private static PersonalizedRerankProcessor processor(PersonalizedRerankProcessorTest.FakeRanker ranker, double weight) {
        Map<String, Object> config = new HashMap<>(Map.of("ranker_url", "http://127.0.0.1:1", "blend_weight", weight));
        return new PersonalizedRerankProcessor.Factory(ranker, System::nanoTime, null, LOOPBACK, COMPLETIONS)
            .create(Map.of(), "t", null, false, config, null);
    }

    private static SearchResponse run(PersonalizedRerankProcessor p, SearchRequest request, SearchResponse response,
                                      PipelineProcessingContext context) throws Exception {
        PersonalizedRerankProcessorTest.Result r = new PersonalizedRerankProcessorTest.Result();
        p.processResponseAsync(request, response, context, r);
        return r.get();
    }

    private static RankerClient.Answer answer(boolean blended, String... idsBestFirst) {
        List<RankerClient.Scored> out = new ArrayList<>();
        for (int i = 0; i < idsBestFirst.length; i++) {
            out.add(new RankerClient.Scored(idsBestFirst[i], idsBestFirst.length - i));
        }
        return new RankerClient.Answer(true, null, "v3", out, blended);
    }

    /** a (A, 4), b (no id), c (C, 2), d (D, 1): the hit without an id sits in slot 1. */
    private static SearchResponse withAHole() {
        return Hits.response(
            Hits.hit("a", "A", 4f), Hits.hit("b", null, 3f), Hits.hit("c", "C", 2f), Hits.hit("d", "D", 1f));
    }

    @Test
    public void sendsTheBlendWeightAndThePagesSlotsAsPlacesInTheWholeOrdering() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        ranker.next = CompletableFuture.completedFuture(answer(true, "D", "A", "C"));
        // No personalized_window: the hits are the page as asked, which starts at the request's from (20).
        SearchRequest request = Hits.request("12347");
        request.source().from(20).size(4);
        run(processor(ranker, 0.3), request, withAHole(), new PipelineProcessingContext());
        RankerClient.Page page = ranker.pages.get(0);
        assertEquals(0.3, page.blendWeight(), 0.0);
        assertEquals(20, page.from());
        assertEquals(4, page.size());
        assertEquals(List.of(20, 22, 23), page.positions());  // the hole at 21 holds the hit without an id
        // Widened by personalized_window: the hits start at place 0; the page is the one asked for.
        PipelineProcessingContext context = new PipelineProcessingContext();
        context.setAttribute(PageWindow.CONTEXT_KEY, new PageWindow(2, 2, 4));
        ranker.next = CompletableFuture.completedFuture(answer(true, "D", "A", "C"));
        run(processor(ranker, 0.3), Hits.request("12347"), withAHole(), context);
        RankerClient.Page widened = ranker.pages.get(1);
        assertEquals(2, widened.from());
        assertEquals(2, widened.size());
        assertEquals(List.of(0, 2, 3), widened.positions());
    }

    @Test
    public void aBlendedAnswerIsShownAsItIsWithItsScores() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        // Scores rising down the list: a second blend would reorder them; a blended answer must not be.
        List<RankerClient.Scored> results = List.of(
            new RankerClient.Scored("C", 0.1), new RankerClient.Scored("A", 0.5), new RankerClient.Scored("D", 0.9));
        ranker.next = CompletableFuture.completedFuture(new RankerClient.Answer(true, null, "v1+v2", results, true));
        SearchResponse out = run(processor(ranker, 0.5), Hits.request("12347"), withAHole(), new PipelineProcessingContext());
        assertEquals(List.of("c", "b", "a", "d"), Hits.docIds(out));  // the hole stays in slot 1
        SearchHit[] hits = out.getHits().getHits();
        assertEquals(0.1f, hits[0].getScore(), 0f);
        assertEquals(3f, hits[1].getScore(), 0f);  // the hit without an id keeps its own score
        assertEquals(0.9f, hits[3].getScore(), 0f);
        assertTrue(Hits.outcome(out).personalized());
    }

    @Test
    public void anAnswerWithoutBlendedIsBlendedHereAsBefore() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        // Same ranker scores as above, blended here with weight 1: the ranker's order by score, D first.
        List<RankerClient.Scored> results = List.of(
            new RankerClient.Scored("C", 0.1), new RankerClient.Scored("A", 0.5), new RankerClient.Scored("D", 0.9));
        ranker.next = CompletableFuture.completedFuture(new RankerClient.Answer(true, null, "v1", results));
        SearchResponse out = run(processor(ranker, 1.0), Hits.request("12347"), withAHole(), new PipelineProcessingContext());
        assertEquals(List.of("d", "b", "a", "c"), Hits.docIds(out));
    }

    @Test
    public void aRepeatedIdStaysWhereItWasUnderABlendedAnswer() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        ranker.next = CompletableFuture.completedFuture(answer(true, "B", "A"));
        SearchResponse twice = Hits.response(Hits.hit("a1", "A", 3f), Hits.hit("b", "B", 2f), Hits.hit("a2", "A", 1f));
        SearchResponse out = run(processor(ranker, 0.5), Hits.request("12347"), twice, new PipelineProcessingContext());
        assertEquals(List.of(0, 1), ranker.pages.get(0).positions());  // the second A is no slot
        assertEquals(List.of("b", "a1", "a2"), Hits.docIds(out));
    }

    @Test
    public void aBlendedAnswerThatLeavesOutAHitSentIsAFailure() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        ranker.next = CompletableFuture.completedFuture(answer(true, "D", "A"));
        PersonalizedRerankProcessorTest.Result r = new PersonalizedRerankProcessorTest.Result();
        processor(ranker, 0.5).processResponseAsync(Hits.request("12347"), withAHole(), new PipelineProcessingContext(), r);
        assertTrue(r.failure() != null);
    }

    @Test
    public void theRequestBodyCarriesThePageAndTheAnswersBlendedFlagIsRead() throws Exception {
        byte[] body = RankerProtocol.requestBody("u", "q", List.of(new RankerClient.Candidate("A", 2f)),
            new RankerClient.Page(0.25, 10, 5, List.of(11)));
        String json = new String(body, StandardCharsets.UTF_8);
        assertTrue(json, json.contains("\"blend_weight\":0.25"));
        assertTrue(json, json.contains("\"page\":{\"from\":10,\"size\":5,\"positions\":[11]}"));
        String old = new String(RankerProtocol.requestBody("u", "q", List.of(new RankerClient.Candidate("A", 2f))),
            StandardCharsets.UTF_8);
        assertFalse(old, old.contains("page") || old.contains("blend_weight"));
        String reply = "{\"personalized\":true,\"reason\":null,\"model_version\":\"v1\",\"blended\":true,"
            + "\"results\":[{\"id\":\"A\",\"score\":0.5}]}";
        assertTrue(RankerProtocol.parseAnswer(new ByteArrayInputStream(reply.getBytes(StandardCharsets.UTF_8))).blended());
        String before = "{\"personalized\":true,\"results\":[{\"id\":\"A\",\"score\":0.5}]}";
        assertFalse(RankerProtocol.parseAnswer(new ByteArrayInputStream(before.getBytes(StandardCharsets.UTF_8))).blended());
    }

    @Test
    public void aRankerThatRefusesThePageIsCalledAgainWithoutItAndBlendedHere() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        ranker.refusePage = true;
        List<RankerClient.Scored> results = List.of(
            new RankerClient.Scored("C", 0.1), new RankerClient.Scored("A", 0.5), new RankerClient.Scored("D", 0.9));
        ranker.next = CompletableFuture.completedFuture(new RankerClient.Answer(true, null, "v1", results));
        PersonalizedRerankProcessor p = processor(ranker, 1.0);
        SearchResponse out = run(p, Hits.request("12347"), withAHole(), new PipelineProcessingContext());
        assertEquals(List.of("d", "b", "a", "c"), Hits.docIds(out));  // blended here, as before
        assertTrue(Hits.outcome(out).personalized());
        assertEquals(2, ranker.pages.size());
        assertTrue(ranker.pages.get(0) != null && ranker.pages.get(1) == null);
        // The next search does not send the page again (for a while): one call.
        run(p, Hits.request("12347"), withAHole(), new PipelineProcessingContext());
        assertEquals(3, ranker.pages.size());
        assertEquals(null, ranker.pages.get(2));
    }
}
