package org.recsearch.opensearch.rerank;

import java.io.IOException;
import java.util.Objects;

import org.opensearch.core.ParseField;
import org.opensearch.core.common.ParsingException;
import org.opensearch.core.common.io.stream.StreamInput;
import org.opensearch.core.common.io.stream.StreamOutput;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.core.xcontent.XContentParser;
import org.opensearch.search.SearchExtBuilder;

/**
 * The user a search is for, carried in the request: {@code "ext": {"personalize": {"user_id": "12347"}}}, and
 * optionally the UBI {@code query_id} the search is recorded under (the storefront's own, so its click events
 * carry it; without one the processor makes a UUID).
 *
 * <p>A number is accepted as the user id (shops often keep numeric customer ids) and turned into a string, as the
 * ranker's contract wants string ids. Any other field is refused with a message naming it, and so is an id longer
 * than the ranker accepts ({@value #MAX_USER_ID_CHARS} characters, ranker/service/schemas.py).
 */
public final class PersonalizeRequestExt extends SearchExtBuilder {

    public static final String NAME = "personalize";
    static final ParseField USER_ID = new ParseField("user_id");
    static final ParseField QUERY_ID = new ParseField("query_id");
    /** What the ranker accepts as a query_id (QueryId in ranker/service/schemas.py). */
    static final java.util.regex.Pattern QUERY_ID_PATTERN = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,99}");
    /** The ranker service's limit on {@code user_id} (RerankRequest in ranker/service/schemas.py), in characters. */
    public static final int MAX_USER_ID_CHARS = 200;

    private final String userId;
    private final String queryId;

    public PersonalizeRequestExt(String userId) {
        this(userId, null);
    }

    public PersonalizeRequestExt(String userId, String queryId) {
        this.userId = userId;
        this.queryId = queryId;
    }

    public PersonalizeRequestExt(StreamInput in) throws IOException {
        this.userId = in.readOptionalString();
        this.queryId = in.readOptionalString();
    }

    /** The UBI query_id the request named, or null. */
    public String queryId() {
        return queryId;
    }

    /** The user id, or null when the request named none. */
    public String userId() {
        return userId;
    }

    @Override
    public String getWriteableName() {
        return NAME;
    }

    @Override
    public void writeTo(StreamOutput out) throws IOException {
        out.writeOptionalString(userId);
        out.writeOptionalString(queryId);
    }

    @Override
    public XContentBuilder toXContent(XContentBuilder builder, Params params) throws IOException {
        builder.startObject(NAME);
        if (userId != null) {
            builder.field(USER_ID.getPreferredName(), userId);
        }
        if (queryId != null) {
            builder.field(QUERY_ID.getPreferredName(), queryId);
        }
        return builder.endObject();
    }

    /** Parse the object after {@code "personalize":}. */
    public static PersonalizeRequestExt parse(XContentParser parser) throws IOException {
        XContentParser.Token token = parser.currentToken();
        if (token != XContentParser.Token.START_OBJECT) {
            token = parser.nextToken();
        }
        if (token != XContentParser.Token.START_OBJECT) {
            throw new ParsingException(parser.getTokenLocation(), "[ext." + NAME + "] must be an object like {\"user_id\": \"12347\"}");
        }
        String userId = null;
        String queryId = null;
        String field = null;
        while ((token = parser.nextToken()) != XContentParser.Token.END_OBJECT) {
            if (token == XContentParser.Token.FIELD_NAME) {
                field = parser.currentName();
            } else if (USER_ID.match(field, parser.getDeprecationHandler())) {
                if (token == XContentParser.Token.VALUE_STRING || token == XContentParser.Token.VALUE_NUMBER) {
                    userId = parser.text();
                    int chars = userId.codePointCount(0, userId.length());
                    if (chars > MAX_USER_ID_CHARS) {
                        throw new ParsingException(parser.getTokenLocation(),
                            "[ext." + NAME + ".user_id] must be at most " + MAX_USER_ID_CHARS + " characters, got " + chars);
                    }
                } else if (token != XContentParser.Token.VALUE_NULL) {
                    throw new ParsingException(parser.getTokenLocation(), "[ext." + NAME + ".user_id] must be a string");
                }
            } else if (QUERY_ID.match(field, parser.getDeprecationHandler())) {
                if (token == XContentParser.Token.VALUE_STRING) {
                    queryId = parser.text();
                    if (!QUERY_ID_PATTERN.matcher(queryId).matches()) {
                        throw new ParsingException(parser.getTokenLocation(), "[ext." + NAME + ".query_id] must be a UUID or an "
                            + "id of letters, digits and ._:- (at most 100 characters)");
                    }
                } else if (token != XContentParser.Token.VALUE_NULL) {
                    throw new ParsingException(parser.getTokenLocation(), "[ext." + NAME + ".query_id] must be a string");
                }
            } else {
                throw new ParsingException(parser.getTokenLocation(),
                    "[ext." + NAME + "] has an unknown field [" + field + "]; expected [user_id] or [query_id]");
            }
        }
        return new PersonalizeRequestExt(userId == null || userId.isBlank() ? null : userId, queryId);
    }

    @Override
    public int hashCode() {
        return Objects.hash(NAME, userId, queryId);
    }

    @Override
    public boolean equals(Object obj) {
        return obj instanceof PersonalizeRequestExt other && Objects.equals(userId, other.userId)
            && Objects.equals(queryId, other.queryId);
    }
}
