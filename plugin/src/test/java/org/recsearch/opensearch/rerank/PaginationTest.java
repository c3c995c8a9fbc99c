package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;

import java.net.ConnectException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.junit.AfterClass;
import org.junit.Test;
import org.opensearch.OpenSearchException;
import org.opensearch.action.search.SearchRequest;
import org.opensearch.action.search.SearchResponse;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.search.SearchHit;
import org.opensearch.search.pipeline.PipelineProcessingContext;
import org.opensearch.search.pipeline.Processor;
import org.opensearch.search.sort.SortOrder;

/**
 * {@code personalized_window} with {@code personalized_rerank}: pages of a personalized search are slices of one
 * ordering. "OpenSearch" here is a fixed list of 30 hits that a request's from/size cuts.
 */
public class PaginationTest {

    private static final int ALL = 30;
    private static final ExecutorService COMPLETIONS = Executors.newFixedThreadPool(2);
    private static final RankerUrlAllowList LOOPBACK =
        new RankerUrlAllowList(List.of(RankerUrlAllowList.Entry.parse("http://127.0.0.1:*")));

    @AfterClass
    public static void stopPool() {
        COMPLETIONS.shutdownNow();
    }

    private static PersonalizedWindowProcessor window(int windowSize, ResultWindowLimit limit) {
        Map<String, Object> config = new HashMap<>(Map.of(PersonalizedWindowProcessor.WINDOW_SIZE, windowSize));
        return new PersonalizedWindowProcessor.Factory(limit).create(Map.of(), "t", null, false, config, null);
    }

    private static PersonalizedRerankProcessor rerank(PersonalizedRerankProcessorTest.FakeRanker ranker, boolean ignoreFailure) {
        Map<String, Object> config = new HashMap<>(Map.of("ranker_url", "http://127.0.0.1:1", "blend_weight", 1.0));
        return new PersonalizedRerankProcessor.Factory(ranker, System::nanoTime, null, LOOPBACK, COMPLETIONS)
            .create(Map.of(), "t", null, ignoreFailure, config, null);
    }

    /** What OpenSearch answers: hits [from, from + size) of d0..d29, scores falling. */
    private static SearchResponse openSearch(SearchRequest request) {
        int from = Math.max(0, request.source().from());
        int size = request.source().size() < 0 ? 10 : request.source().size();
        List<SearchHit> hits = new ArrayList<>();
        for (int i = from; i < Math.min(ALL, from + size); i++) {
            hits.add(Hits.hit("d" + i, "I" + i, ALL - i));
        }
        return Hits.response(ALL, hits.toArray(new SearchHit[0]));
    }

    /** The ranker prefers the items OpenSearch ranks lowest: the reverse order. */
    private static RankerClient.Answer reversed() {
        List<RankerClient.Scored> out = new ArrayList<>();
        for (int i = 0; i < ALL; i++) {
            out.add(new RankerClient.Scored("I" + i, i));
        }
        return new RankerClient.Answer(true, null, "v3", out);
    }

    private static SearchRequest request(String user, int from, int size) {
        SearchRequest r = Hits.request(user);
        r.source().from(from).size(size);
        return r;
    }

    /** One search through the pipeline: request processor, "OpenSearch", response processor. */
    private static SearchResponse search(PersonalizedWindowProcessor w, PersonalizedRerankProcessor p, SearchRequest request)
        throws Exception {
        PipelineProcessingContext context = new PipelineProcessingContext();
        SearchRequest widened = w.processRequest(request, context);
        PersonalizedRerankProcessorTest.Result r = new PersonalizedRerankProcessorTest.Result();
        p.processResponseAsync(widened, openSearch(widened), context, r);
        return r.get();
    }

    @Test
    public void pagesOfAPersonalizedSearchAreSlicesOfOneOrdering() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        ranker.next = CompletableFuture.completedFuture(reversed());
        PersonalizedWindowProcessor w = window(20, r -> ResultWindowLimit.UNKNOWN);
        PersonalizedRerankProcessor p = rerank(ranker, false);
        List<String> oneCall = Hits.docIds(search(w, p, request("12347", 0, ALL)));
        List<String> pages = new ArrayList<>();
        for (int from = 0; from < ALL; from += 10) {
            SearchResponse page = search(w, p, request("12347", from, 10));
            assertEquals(ALL, page.getHits().getTotalHits().value());  // OpenSearch's total, not the page's
            pages.addAll(Hits.docIds(page));
        }
        assertEquals(oneCall, pages);
        assertEquals(ALL, new HashSet<>(pages).size());  // nothing repeated, nothing skipped
        // The window (d0..d19) reversed by the ranker, then OpenSearch's order past it.
        assertEquals("d19", oneCall.get(0));
        assertEquals("d0", oneCall.get(19));
        assertEquals("d20", oneCall.get(20));
        // Every page that touched the window sent the ranker the same 20 candidates; the page past it sent none.
        assertEquals(3, ranker.sent.size());  // the one call and pages 1 and 2
        for (List<RankerClient.Candidate> sent : ranker.sent) {
            assertEquals(ranker.sent.get(0), sent);
            assertEquals(20, sent.size());
        }
    }

    @Test
    public void theOutcomeNamesTheWindowAndAPagePastItSaysSo() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        ranker.next = CompletableFuture.completedFuture(reversed());
        PersonalizedWindowProcessor w = window(20, r -> 10_000);
        PersonalizedRerankProcessor p = rerank(ranker, false);
        RerankOutcomeExt inside = Hits.outcome(search(w, p, request("12347", 10, 10)));
        assertTrue(inside.personalized());
        assertEquals(20, inside.window());
        assertEquals(20, inside.reranked());
        SearchResponse past = search(w, p, request("12347", 20, 10));
        assertEquals(List.of("d20", "d21", "d22", "d23", "d24", "d25", "d26", "d27", "d28", "d29"), Hits.docIds(past));
        assertEquals(PageWindow.BEYOND_WINDOW, Hits.outcome(past).reason());
        assertFalse(Hits.outcome(past).personalized());
    }

    @Test
    public void aRankerFailureStillGivesJustThePageInOpenSearchsOrder() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        ranker.next = CompletableFuture.failedFuture(new ConnectException("Connection refused"));
        SearchResponse out = search(window(20, r -> 10_000), rerank(ranker, true), request("12347", 10, 5));
        assertEquals(List.of("d10", "d11", "d12", "d13", "d14"), Hits.docIds(out));
        assertEquals("ranker_unreachable", Hits.outcome(out).reason());
        assertEquals(20, Hits.outcome(out).window());
    }

    @Test
    public void theIndexMaxResultWindowCapsTheWindow() throws Exception {
        PipelineProcessingContext context = new PipelineProcessingContext();
        SearchRequest out = window(100, r -> 25).processRequest(request("12347", 10, 10), context);
        assertEquals(0, out.source().from());
        assertEquals(25, out.source().size());
        assertEquals(new PageWindow(10, 10, 25), PageWindow.of(context));
    }

    @Test
    public void withoutAUserOrSortedByAFieldTheRequestIsLeftAsAsked() throws Exception {
        PersonalizedWindowProcessor w = window(100, r -> 10_000);
        PipelineProcessingContext context = new PipelineProcessingContext();
        SearchRequest anonymous = request(null, 10, 10);
        assertSame(anonymous, w.processRequest(anonymous, context));
        assertEquals(10, anonymous.source().from());
        assertEquals(10, anonymous.source().size());
        SearchRequest byPrice = request("12347", 10, 10);
        byPrice.source().sort("price", SortOrder.ASC);
        w.processRequest(byPrice, context);
        assertEquals(10, byPrice.source().from());
        assertNull(PageWindow.of(context));
        assertNull(PageWindow.skippedReason(context));
        // And the response processor reports why, on the page as asked.
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        SearchResponse sorted = search(w, rerank(ranker, false), byPrice);
        assertEquals("sorted_by_field", Hits.outcome(sorted).reason());
        assertEquals(0, Hits.outcome(sorted).window());
        assertEquals(List.of("d10", "d11", "d12", "d13", "d14", "d15", "d16", "d17", "d18", "d19"), Hits.docIds(sorted));
        assertTrue(ranker.users.isEmpty());
    }

    @Test
    public void cursorPagingIsLeftAsAskedWithTheReason() throws Exception {
        PersonalizedWindowProcessor w = window(100, r -> 10_000);
        SearchRequest after = request("12347", 0, 10);
        after.source().searchAfter(new Object[] {1.5f});
        PipelineProcessingContext context = new PipelineProcessingContext();
        w.processRequest(after, context);
        assertEquals(PersonalizedWindowProcessor.CURSOR_PAGING, PageWindow.skippedReason(context));
        SearchRequest scroll = request("12347", 0, 10).scroll(TimeValue.timeValueMinutes(1));
        PipelineProcessingContext scrolled = new PipelineProcessingContext();
        w.processRequest(scroll, scrolled);
        assertEquals(PersonalizedWindowProcessor.CURSOR_PAGING, PageWindow.skippedReason(scrolled));
        assertEquals(10, scroll.source().size());
    }

    @Test
    public void aBadWindowSizeIsRefusedNamingTheSetting() {
        OpenSearchException e = org.junit.Assert.assertThrows(OpenSearchException.class, () -> window(0, r -> 10_000));
        assertTrue(e.getMessage(), e.getMessage().contains("[window_size] must be between 1 and 10000, got [0]"));
        Map<String, Object> defaults = new HashMap<>();
        PersonalizedWindowProcessor p = new PersonalizedWindowProcessor.Factory(r -> 10_000)
            .create(Map.of(), "t", null, false, defaults, null);
        assertEquals(PersonalizedWindowProcessor.DEFAULT_WINDOW_SIZE, p.windowSize());
    }

    @Test
    public void withoutTheWindowProcessorThePageIsRerankedAsBefore() throws Exception {
        PersonalizedRerankProcessorTest.FakeRanker ranker = new PersonalizedRerankProcessorTest.FakeRanker();
        ranker.next = CompletableFuture.completedFuture(reversed());
        SearchRequest request = request("12347", 10, 10);
        PersonalizedRerankProcessorTest.Result r = new PersonalizedRerankProcessorTest.Result();
        rerank(ranker, false).processResponseAsync(request, openSearch(request), new PipelineProcessingContext(), r);
        assertEquals("d19", Hits.docIds(r.get()).get(0));
        assertEquals(0, Hits.outcome(r.get()).window());
    }
}
