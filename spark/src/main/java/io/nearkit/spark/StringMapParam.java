package io.nearkit.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.util.Identifiable;

/**
 * A parameter whose value is a map of names to text values (nearkit's kind parameters, such as
 * {@code {"nlist": "64"}}), saved with the model as a JSON object.
 */
public final class StringMapParam extends Param<Map<String, String>> {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * A parameter of {@code parent}.
     *
     * @param parent the owner
     * @param name the parameter's name
     * @param doc what it sets
     */
    public StringMapParam(Identifiable parent, String name, String doc) {
        super(parent, name, doc);
    }

    @Override
    public String jsonEncode(Map<String, String> value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(name() + ": cannot write " + value + " as JSON", e);
        }
    }

    @Override
    public Map<String, String> jsonDecode(String json) {
        try {
            return Collections.unmodifiableMap(
                    JSON.readValue(json, new TypeReference<LinkedHashMap<String, String>>() { }));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(name() + ": not a JSON object of strings: " + json, e);
        }
    }
}
