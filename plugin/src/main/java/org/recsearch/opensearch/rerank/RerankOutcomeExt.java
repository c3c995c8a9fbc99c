package org.recsearch.opensearch.rerank;

import java.io.IOException;
import java.util.Objects;

import org.opensearch.core.common.io.stream.StreamInput;
import org.opensearch.core.common.io.stream.StreamOutput;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.core.xcontent.XContentParser;
import org.opensearch.search.SearchExtBuilder;

/**
 * What the processor did, added to the response: {@code "ext": {"personalized_rerank": {"personalized": true, ...}}}.
 *
 * <p>{@code reason} says why the original order came back ({@code no_user}, {@code unknown_user},
 * {@code ranker_timeout}, {@code ranker_error}, ...), so a shop can see from a single response why it was not
 * personalised. It is a code only: the cause of a ranker failure (the ranker's URL, status and answer) is in the
 * node's log, never in a response, so a search client learns nothing about what the node can reach.
 *
 * <p>{@code query_id} is the UBI query_id of the search (the request's {@code ext.personalize.query_id}, or a new
 * UUID): the ranker records what it ordered under it, and the shop's events that carry it are attributed to it.
 */
public final class RerankOutcomeExt extends SearchExtBuilder {

    public static final String NAME = "personalized_rerank";

    private final boolean personalized;
    private final String reason;
    private final String userId;
    private final String modelVersion;
    private final int reranked;
    private final long tookMs;
    /** The fixed window of top hits every page of this search is a slice of (0: the page as asked). */
    private final int window;
    /** The UBI query_id of this search (null only in an outcome parsed from a request). */
    private final String queryId;

    public RerankOutcomeExt(boolean personalized, String reason, String userId, String modelVersion, int reranked, long tookMs) {
        this(personalized, reason, userId, modelVersion, reranked, tookMs, 0);
    }

    public RerankOutcomeExt(boolean personalized, String reason, String userId, String modelVersion, int reranked, long tookMs,
                            int window) {
        this(personalized, reason, userId, modelVersion, reranked, tookMs, window, null);
    }

    public RerankOutcomeExt(boolean personalized, String reason, String userId, String modelVersion, int reranked, long tookMs,
                            int window, String queryId) {
        this.window = window;
        this.queryId = queryId;
        this.personalized = personalized;
        this.reason = reason;
        this.userId = userId;
        this.modelVersion = modelVersion;
        this.reranked = reranked;
        this.tookMs = tookMs;
    }

    public RerankOutcomeExt(StreamInput in) throws IOException {
        this(in.readBoolean(), in.readOptionalString(), in.readOptionalString(), in.readOptionalString(), in.readVInt(),
            in.readVLong(), in.readVInt(), in.readOptionalString());
    }

    public boolean personalized() {
        return personalized;
    }

    public String reason() {
        return reason;
    }

    public int reranked() {
        return reranked;
    }

    public int window() {
        return window;
    }

    public String queryId() {
        return queryId;
    }

    /** This outcome for a search widened to a window of {@code window} hits. */
    public RerankOutcomeExt withWindow(int window) {
        return new RerankOutcomeExt(personalized, reason, userId, modelVersion, reranked, tookMs, window, queryId);
    }

    /** This outcome for the search recorded under {@code queryId}. */
    public RerankOutcomeExt withQueryId(String queryId) {
        return new RerankOutcomeExt(personalized, reason, userId, modelVersion, reranked, tookMs, window, queryId);
    }

    @Override
    public String getWriteableName() {
        return NAME;
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        out.writeBoolean(personalized);
        out.writeOptionalString(reason);
        out.writeOptionalString(userId);
        out.writeOptionalString(modelVersion);
        out.writeVInt(reranked);
        out.writeVLong(tookMs);
        out.writeVInt(window);
        out.writeOptionalString(queryId);
    }

    @Override
    public XContentBuilder toXContent(XContentBuilder builder, Params params) throws IOException {
        builder.startObject(NAME);
        builder.field("personalized", personalized);
        builder.field("reason", reason);
        builder.field("user_id", userId);
        builder.field("model_version", modelVersion);
        builder.field("reranked", reranked);
        builder.field("took_ms", tookMs);
        builder.field("window", window);
        builder.field("query_id", queryId);
        return builder.endObject();
    }

    /** This ext only appears in responses; a request that sends it gets it ignored (it is parsed and dropped). */
    public static RerankOutcomeExt parse(XContentParser parser) throws IOException {
        parser.skipChildren();
        return new RerankOutcomeExt(false, "request", null, null, 0, 0);
    }

    @Override
    public int hashCode() {
        return Objects.hash(personalized, reason, userId, modelVersion, reranked, tookMs, window, queryId);
    }

    @Override
    public boolean equals(Object obj) {
        return obj instanceof RerankOutcomeExt o
            && personalized == o.personalized && reranked == o.reranked && tookMs == o.tookMs && window == o.window
            && Objects.equals(reason, o.reason)
            && Objects.equals(userId, o.userId) && Objects.equals(modelVersion, o.modelVersion)
            && Objects.equals(queryId, o.queryId);
    }
}
