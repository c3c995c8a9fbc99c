package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

import org.junit.Test;
import org.opensearch.common.xcontent.json.JsonXContent;
import org.opensearch.core.common.ParsingException;
import org.opensearch.core.xcontent.DeprecationHandler;
import org.opensearch.core.xcontent.NamedXContentRegistry;
import org.opensearch.core.xcontent.XContentParser;

public class ProtocolAndExtTest {

    private static PersonalizeRequestExt parseExt(String json) throws IOException {
        try (XContentParser p = JsonXContent.jsonXContent.createParser(NamedXContentRegistry.EMPTY, DeprecationHandler.IGNORE_DEPRECATIONS, json)) {
            p.nextToken();
            return PersonalizeRequestExt.parse(p);
        }
    }

    @Test
    public void requestBodyFollowsTheContract() throws IOException {
        byte[] body = RankerProtocol.requestBody("12347", List.of(new RankerClient.Candidate("85123A", 0.93f)));
        assertEquals("{\"user_id\":\"12347\",\"hits\":[{\"id\":\"85123A\",\"score\":0.93}]}", new String(body, StandardCharsets.UTF_8));
    }

    @Test
    public void requestBodyCarriesTheQueryIdWhenThereIsOne() throws IOException {
        byte[] body = RankerProtocol.requestBody("12347", "q-1", List.of(new RankerClient.Candidate("85123A", 0.93f)));
        assertEquals("{\"user_id\":\"12347\",\"query_id\":\"q-1\",\"hits\":[{\"id\":\"85123A\",\"score\":0.93}]}",
            new String(body, StandardCharsets.UTF_8));
    }

    @Test
    public void extCarriesAQueryIdAndRefusesAMalformedOne() throws IOException {
        PersonalizeRequestExt ext = parseExt("{\"user_id\": \"12347\", \"query_id\": \"0f8fad5b-d9cb-469f-a165-70867728950e\"}");
        assertEquals("0f8fad5b-d9cb-469f-a165-70867728950e", ext.queryId());
        assertNull(parseExt("{\"user_id\": \"12347\"}").queryId());
        ParsingException e = assertThrows(ParsingException.class, () -> parseExt("{\"query_id\": \"has space\"}"));
        assertTrue(e.getMessage(), e.getMessage().contains("[ext.personalize.query_id]"));
        e = assertThrows(ParsingException.class, () -> parseExt("{\"query_id\": \"" + "q".repeat(101) + "\"}"));
        assertTrue(e.getMessage(), e.getMessage().contains("at most 100"));
    }

    @Test
    public void answerIsParsedAndBadAnswersNameTheField() throws IOException {
        String ok = "{\"user_id\":\"1\",\"personalized\":true,\"reason\":null,\"model_version\":\"v3\","
            + "\"results\":[{\"id\":\"21814\",\"score\":0.81,\"retrieval_score\":0.9,\"explanations\":[]}]}";
        RankerClient.Answer a = RankerProtocol.parseAnswer(new ByteArrayInputStream(ok.getBytes(StandardCharsets.UTF_8)));
        assertTrue(a.personalized());
        assertNull(a.reason());
        assertEquals("v3", a.modelVersion());
        assertEquals(List.of(new RankerClient.Scored("21814", 0.81)), a.results());
        IOException e = assertThrows(IOException.class,
            () -> RankerProtocol.parseAnswer(new ByteArrayInputStream("{\"personalized\":true,\"results\":[{\"id\":\"x\"}]}".getBytes(StandardCharsets.UTF_8))));
        assertTrue(e.getMessage().contains("results.0"));
        e = assertThrows(IOException.class, () -> RankerProtocol.parseAnswer(new ByteArrayInputStream("{}".getBytes(StandardCharsets.UTF_8))));
        assertTrue(e.getMessage().contains("personalized"));
    }

    @Test
    public void extCarriesTheUserAndRefusesUnknownFields() throws IOException {
        assertEquals("12347", parseExt("{\"user_id\": \"12347\"}").userId());
        assertEquals("12347", parseExt("{\"user_id\": 12347}").userId());
        assertNull(parseExt("{\"user_id\": \"\"}").userId());
        ParsingException e = assertThrows(ParsingException.class, () -> parseExt("{\"user\": \"1\"}"));
        assertTrue(e.getMessage().contains("[user]"));
    }

    @Test
    public void aUserIdLongerThanTheRankerAcceptsIsRefusedNamingTheField() throws IOException {
        String longest = "u".repeat(PersonalizeRequestExt.MAX_USER_ID_CHARS);
        assertEquals(longest, parseExt("{\"user_id\": \"" + longest + "\"}").userId());
        assertEquals(200, PersonalizeRequestExt.MAX_USER_ID_CHARS); // ranker/service/schemas.py RerankRequest.user_id
        ParsingException e = assertThrows(ParsingException.class, () -> parseExt("{\"user_id\": \"" + longest + "x\"}"));
        assertTrue(e.getMessage(), e.getMessage().contains("[ext.personalize.user_id] must be at most 200 characters, got 201"));
        // Characters, as the service counts them, not UTF-16 units: 200 emoji are accepted.
        String emoji = "\uD83D\uDE00".repeat(200);
        assertEquals(emoji, parseExt("{\"user_id\": \"" + emoji + "\"}").userId());
    }
}
