// Test helper: fill an XForm with JavaRosa (the form engine inside ODK Collect) and write the
// submission XML that Collect would send. Used by tests/javarosa.py; compiled against the
// ODK_Validate.jar that ships in the pyxform wheel (it bundles JavaRosa, kxml2 and Jackson).
//
//   java -cp ODK_Validate.jar:BUILD FieldappFill FORM.xml MEDIA_DIR OUT.xml ANSWERS.json
//
// ANSWERS.json is an object:
//   "/data/q": "value"         answer for the question with that generic path (no [n] positions);
//                              select multiple / rank: values separated by spaces
//   "/data/rep/q": ["a", "b"]  a list gives successive repeat instances their values in order
//   "#repeat:/data/rep": 2     number of instances of a repeat without jr:count (default: the
//                              longest list among the answers inside it, 1 for plain values, else 0)
//   "#property:username": "u"  a metadata property (deviceid, username, email, phonenumber)
//
// Exit codes: 0 written; 2 bad usage, unreadable input or form parse error; 3 a secondary
// instance (jr://file-csv/..., jr://file/...) is missing from MEDIA_DIR; 4 an answer was
// rejected, unused, or the finished form does not validate; 1 anything unexpected.
// On success one JSON line {"instanceID": ..., "warnings": [...], "attachments": [...]} goes
// to stdout; failures are explained on stderr.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.javarosa.core.model.Constants;
import org.javarosa.core.model.FormDef;
import org.javarosa.core.model.FormIndex;
import org.javarosa.core.model.GroupDef;
import org.javarosa.core.model.IDataReference;
import org.javarosa.core.model.IFormElement;
import org.javarosa.core.model.RangeQuestion;
import org.javarosa.core.model.SelectChoice;
import org.javarosa.core.model.SubmissionProfile;
import org.javarosa.core.model.ValidateOutcome;
import org.javarosa.core.model.data.AnswerDataFactory;
import org.javarosa.core.model.data.IAnswerData;
import org.javarosa.core.model.data.SelectMultiData;
import org.javarosa.core.model.data.SelectOneData;
import org.javarosa.core.model.data.StringData;
import org.javarosa.core.model.data.UncastData;
import org.javarosa.core.model.data.helper.Selection;
import org.javarosa.core.model.instance.ExternalDataInstance;
import org.javarosa.core.model.instance.InstanceInitializationFactory;
import org.javarosa.core.model.instance.TreeElement;
import org.javarosa.core.reference.Reference;
import org.javarosa.core.reference.ReferenceFactory;
import org.javarosa.core.reference.ReferenceManager;
import org.javarosa.core.reference.RootTranslator;
import org.javarosa.core.services.IPropertyManager;
import org.javarosa.core.services.PropertyManager;
import org.javarosa.core.services.properties.IPropertyRules;
import org.javarosa.form.api.FormEntryController;
import org.javarosa.form.api.FormEntryModel;
import org.javarosa.form.api.FormEntryPrompt;
import org.javarosa.model.xform.XFormSerializingVisitor;
import org.javarosa.model.xform.XFormsModule;
import org.javarosa.model.xform.XPathReference;
import org.javarosa.xform.util.XFormUtils;

public final class FieldappFill {
    /** A failure with its exit code and a message for stderr. */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;
        final int code;

        Failure(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    static final ObjectMapper JSON = new ObjectMapper();
    // smallest valid PNG (1x1, transparent), for required image questions
    static final byte[] PNG = Base64.getDecoder().decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==");

    final Map<String, JsonNode> answers = new LinkedHashMap<>();
    final Map<String, Integer> repeatCounts = new HashMap<>();
    final Map<String, String> properties = new HashMap<>();
    final Map<String, Integer> listCursor = new HashMap<>();
    final Set<String> used = new LinkedHashSet<>();
    final List<String> warnings = new ArrayList<>();
    final List<String> attachments = new ArrayList<>();
    File outDir;

    public static void main(String[] args) {
        int code;
        try {
            if (args.length != 4) {
                throw new Failure(2, "usage: FieldappFill FORM.xml MEDIA_DIR OUT.xml ANSWERS.json");
            }
            code = new FieldappFill().run(new File(args[0]), new File(args[1]), new File(args[2]), new File(args[3]));
        } catch (Failure f) {
            System.err.println("FieldappFill: " + f.getMessage());
            code = f.code;
        } catch (Throwable t) {
            System.err.println("FieldappFill: unexpected error");
            t.printStackTrace();
            code = 1;
        }
        System.out.flush();
        System.exit(code);
    }

    int run(File form, File media, File out, File answersFile) throws Exception {
        readAnswers(answersFile);
        outDir = out.getAbsoluteFile().getParentFile();

        // Collect's start-up: the XForms module and a property manager for jr:preload="property"
        new XFormsModule().registerModule();
        installProperties();
        // Collect's reference manager: jr://file/X is MEDIA_DIR/X; file-csv, images, ... map onto it
        setUpReferences(media.getAbsoluteFile());

        if (!form.isFile()) throw new Failure(2, "no such form file: " + form);
        FormDef fd;
        try {
            fd = XFormUtils.getFormFromFormXml(form.getAbsolutePath(), null);
        } catch (Exception e) {
            throw new Failure(2, "JavaRosa could not parse the form: " + e);
        }
        for (String w : fd.getParseWarnings()) {
            // entities:saveto, odk:xforms-version, orx:max-pixels... are Collect's, not JavaRosa's
            if (!w.contains("Unrecognized attributes")) warnings.add("parse: " + w.trim());
        }
        List<String> missing = new ArrayList<>();
        for (Enumeration<?> e = fd.getNonMainInstances(); e.hasMoreElements(); ) {
            Object di = e.nextElement();
            if (di instanceof ExternalDataInstance && ((ExternalDataInstance) di).isUsingPlaceholder()) {
                missing.add(((ExternalDataInstance) di).getInstanceId());
            }
        }
        if (!missing.isEmpty()) {
            throw new Failure(3, "secondary instance(s) " + missing + " not found in " + media
                + " (JavaRosa used an empty placeholder)");
        }

        fd.getEvaluationContext().addFunctionHandler(new PullData(media));
        FormEntryController fec = new FormEntryController(new FormEntryModel(fd));
        // new instance: preloads (uid, timestamps, properties) and odk-instance-first-load actions
        fd.initialize(true, new InstanceInitializationFactory());
        walk(fec);

        List<String> unused = new ArrayList<>();
        for (String key : answers.keySet()) if (!used.contains(key)) unused.add(key);
        if (!unused.isEmpty()) {
            throw new Failure(4, "answers given for " + unused + " were not used: no relevant, "
                + "writable question has that path");
        }

        ValidateOutcome vo = fd.validate();
        if (vo != null) {
            String why = vo.outcome == FormEntryController.ANSWER_REQUIRED_BUT_EMPTY
                ? "required but empty" : "constraint violated";
            throw new Failure(4, "form does not validate: " + vo.failedPrompt.getReference() + " " + why);
        }
        fec.finalizeFormEntry(); // post-processing: end timestamp, ...

        SubmissionProfile sp = fd.getSubmissionProfile();
        IDataReference ref = sp != null && sp.getRef() != null ? sp.getRef() : new XPathReference("/");
        byte[] xml = new XFormSerializingVisitor().serializeInstance(fd.getInstance(), ref);
        Files.write(out.toPath(), xml);

        ObjectNode result = JSON.createObjectNode();
        result.put("instanceID", metaValue(fd, "instanceID"));
        ArrayNode w = result.putArray("warnings");
        for (String s : warnings) w.add(s);
        ArrayNode a = result.putArray("attachments");
        for (String s : attachments) a.add(s);
        System.out.println(JSON.writeValueAsString(result));
        return 0;
    }

    void readAnswers(File file) throws Failure {
        JsonNode root;
        try {
            root = JSON.readTree(file);
        } catch (IOException e) {
            throw new Failure(2, "cannot read answers " + file + ": " + e.getMessage());
        }
        if (root == null || !root.isObject()) throw new Failure(2, "answers must be a JSON object");
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            if (key.startsWith("#repeat:")) {
                repeatCounts.put(key.substring(8), e.getValue().asInt());
            } else if (key.startsWith("#property:")) {
                properties.put(key.substring(10).toLowerCase(Locale.ROOT), e.getValue().asText());
            } else if (key.startsWith("/")) {
                answers.put(key, e.getValue());
            } else {
                throw new Failure(2, "answer key is not an absolute path: " + key);
            }
        }
    }

    void installProperties() {
        properties.putIfAbsent("deviceid", "collect:fieldapptest0001");
        final Map<String, String> props = new HashMap<>(properties);
        for (String[] scheme : new String[][] {{"username", "username"}, {"email", "mailto"}, {"phonenumber", "tel"}}) {
            String v = props.get(scheme[0]);
            if (v != null && !v.isEmpty()) props.put("uri:" + scheme[0], scheme[1] + ":" + v);
        }
        props.put("uri:deviceid", props.get("deviceid"));
        PropertyManager.setPropertyManager(new IPropertyManager() {
            public List<String> getProperty(String name) {
                List<String> l = new ArrayList<>();
                String v = getSingularProperty(name);
                if (!v.isEmpty()) l.add(v);
                return l;
            }
            public void setProperty(String name, String value) { }
            public void setProperty(String name, List<String> value) { }
            public String getSingularProperty(String name) {
                return props.getOrDefault(name.toLowerCase(Locale.ROOT), "");
            }
            public void addRules(IPropertyRules rules) { }
            public List<IPropertyRules> getRules() { return new ArrayList<>(); }
        });
    }

    /** A file in the media directory, as Collect's FileReference. */
    static final class MediaFile implements Reference {
        final File file;
        final String uri;

        MediaFile(File file, String uri) {
            this.file = file;
            this.uri = uri;
        }

        public boolean doesBinaryExist() { return file.isFile(); }
        public InputStream getStream() throws IOException { return new FileInputStream(file); }
        public String getURI() { return uri; }
        public String getLocalURI() { return file.getAbsolutePath(); }
        public boolean isReadOnly() { return true; }
        public OutputStream getOutputStream() throws IOException { throw new IOException("read-only"); }
        public void remove() { }
        public Reference[] probeAlternativeReferences() { return new Reference[0]; }
    }

    static void setUpReferences(final File media) {
        final String root = "jr://file/";
        ReferenceManager rm = ReferenceManager.instance();
        rm.reset();
        rm.clearSession();
        rm.addReferenceFactory(new ReferenceFactory() {
            public boolean derives(String uri) { return uri.startsWith(root); }
            public Reference derive(String uri) {
                String name = uri.substring(root.length());
                while (name.startsWith("/")) name = name.substring(1);
                return new MediaFile(new File(media, name), uri);
            }
            public Reference derive(String uri, String context) { return derive(uri); }
        });
        for (String host : new String[] {"file-csv", "images", "image", "audio", "video"}) {
            rm.addSessionRootTranslator(new RootTranslator("jr://" + host + "/", root));
        }
    }

    static String metaValue(FormDef fd, String name) {
        TreeElement meta = fd.getMainInstance().getRoot().getFirstChild("meta");
        TreeElement el = meta == null ? null : meta.getFirstChild(name);
        return el == null || el.getValue() == null ? null : el.getValue().uncast().getString();
    }

    // ------------------------------------------------------------------------------- walking

    void walk(FormEntryController fec) throws Exception {
        FormEntryModel model = fec.getModel();
        FormDef fd = model.getForm();
        fec.jumpToIndex(FormIndex.createBeginningOfFormIndex());
        int steps = 0;
        for (int event = fec.stepToNextEvent(); event != FormEntryController.EVENT_END_OF_FORM;
                event = fec.stepToNextEvent()) {
            if (++steps > 200000) throw new IllegalStateException("form walk does not end");
            FormIndex idx = model.getFormIndex();
            if (event == FormEntryController.EVENT_QUESTION) {
                answer(fec, model.getQuestionPrompt(), idx);
            } else if (event == FormEntryController.EVENT_REPEAT) {
                // an existing instance (pyxform puts one in the form): drop it unless wanted
                if (!countBound(fd, idx) && idx.getReference().getMultLast() >= repeatTarget(idx)) {
                    fec.jumpToIndex(fec.deleteRepeat());
                }
            } else if (event == FormEntryController.EVENT_PROMPT_NEW_REPEAT) {
                if (!countBound(fd, idx) && fd.getNumRepetitions(idx) < repeatTarget(idx)) fec.newRepeat();
            }
        }
    }

    static boolean countBound(FormDef fd, FormIndex idx) {
        IFormElement el = fd.getChild(idx);
        return el instanceof GroupDef && ((GroupDef) el).getCountReference() != null;
    }

    int repeatTarget(FormIndex idx) {
        String path = generic(idx);
        Integer n = repeatCounts.get(path);
        if (n != null) return n;
        int target = 0;
        for (Map.Entry<String, JsonNode> e : answers.entrySet()) {
            if (e.getKey().startsWith(path + "/")) {
                target = Math.max(target, e.getValue().isArray() ? e.getValue().size() : 1);
            }
        }
        return target;
    }

    static String generic(FormIndex idx) {
        return idx.getReference().genericize().toString(false);
    }

    void answer(FormEntryController fec, FormEntryPrompt p, FormIndex idx) throws Exception {
        if (p.isReadOnly()) return; // notes and read-only fields: nothing to enter
        String path = generic(idx);
        String where = idx.getReference().toString(true);
        JsonNode given = answers.get(path);
        if (given != null && given.isArray()) {
            int n = listCursor.getOrDefault(path, 0);
            listCursor.put(path, n + 1);
            given = n < given.size() ? given.get(n) : null;
            used.add(path);
        }
        if (given != null && !given.isNull()) {
            used.add(path);
            IAnswerData data = fromText(p, given.asText(), where);
            int status = fec.answerQuestion(idx, data, true);
            if (status != FormEntryController.ANSWER_OK) {
                throw new Failure(4, "answer '" + given.asText() + "' for " + where + " rejected: "
                    + (status == FormEntryController.ANSWER_CONSTRAINT_VIOLATED ? "constraint violated" : "required"));
            }
            return;
        }
        if (p.getAnswerValue() != null || !p.isRequired()) return; // keep defaults; leave optional blank
        for (IAnswerData candidate : defaults(p)) {
            if (fec.answerQuestion(idx, candidate, true) == FormEntryController.ANSWER_OK) {
                if (p.getDataType() == Constants.DATATYPE_BINARY) writeAttachment(candidate.uncast().getString());
                return;
            }
        }
        throw new Failure(4, "no default value satisfies required " + where + "; give an answer for " + path);
    }

    IAnswerData fromText(FormEntryPrompt p, String text, String where) throws Failure, IOException {
        int control = p.getControlType();
        if (control == Constants.CONTROL_SELECT_ONE) {
            return new SelectOneData(choice(p, text.trim(), where));
        }
        if (control == Constants.CONTROL_SELECT_MULTI || control == Constants.CONTROL_RANK) {
            List<Selection> selections = new ArrayList<>();
            for (String v : text.trim().split("\\s+")) if (!v.isEmpty()) selections.add(choice(p, v, where));
            return selections.isEmpty() ? null : new SelectMultiData(selections);
        }
        if (p.getDataType() == Constants.DATATYPE_BINARY || isUpload(control)) {
            writeAttachment(text);
            return new StringData(text);
        }
        return cast(p, text, where);
    }

    static Selection choice(FormEntryPrompt p, String value, String where) throws Failure {
        List<SelectChoice> choices = p.getSelectChoices();
        List<String> values = new ArrayList<>();
        if (choices != null) {
            for (SelectChoice c : choices) {
                if (c.getValue().equals(value)) return c.selection();
                if (values.size() < 20) values.add(c.getValue());
            }
        }
        throw new Failure(4, "'" + value + "' is not a choice of " + where + " (choices: " + values
            + (choices != null && choices.size() > values.size() ? " ..." : "") + ")");
    }

    static IAnswerData cast(FormEntryPrompt p, String text, String where) throws Failure {
        int type = p.getDataType();
        if (type == Constants.DATATYPE_TEXT || type == Constants.DATATYPE_NULL
                || type == Constants.DATATYPE_UNSUPPORTED || type == Constants.DATATYPE_BARCODE) {
            return new StringData(text);
        }
        IAnswerData template = AnswerDataFactory.templateByDataType(type);
        if (template == null) return new StringData(text);
        try {
            return template.cast(new UncastData(text));
        } catch (RuntimeException e) {
            throw new Failure(4, "'" + text + "' is not a valid value for " + where + " (" + e.getMessage() + ")");
        }
    }

    static boolean isUpload(int control) {
        return control == Constants.CONTROL_UPLOAD || control == Constants.CONTROL_IMAGE_CHOOSE
            || control == Constants.CONTROL_AUDIO_CAPTURE || control == Constants.CONTROL_VIDEO_CAPTURE
            || control == Constants.CONTROL_FILE_CAPTURE || control == Constants.CONTROL_OSM_CAPTURE;
    }

    /** Simple valid values to try, in order, for a required question left unanswered. */
    List<IAnswerData> defaults(FormEntryPrompt p) {
        List<IAnswerData> out = new ArrayList<>();
        int control = p.getControlType();
        List<SelectChoice> choices = p.getSelectChoices();
        if (control == Constants.CONTROL_SELECT_ONE) {
            if (choices != null) for (SelectChoice c : choices) out.add(new SelectOneData(c.selection()));
            return out;
        }
        if (control == Constants.CONTROL_SELECT_MULTI) {
            if (choices != null) {
                for (SelectChoice c : choices) {
                    List<Selection> one = new ArrayList<>();
                    one.add(c.selection());
                    out.add(new SelectMultiData(one));
                }
            }
            return out;
        }
        if (control == Constants.CONTROL_RANK) {
            List<Selection> all = new ArrayList<>();
            if (choices != null) for (SelectChoice c : choices) all.add(c.selection());
            if (!all.isEmpty()) out.add(new SelectMultiData(all));
            return out;
        }
        if (control == Constants.CONTROL_TRIGGER) {
            out.add(new StringData("OK"));
            return out;
        }
        if (p.getDataType() == Constants.DATATYPE_BINARY || isUpload(control)) {
            String ext = control == Constants.CONTROL_IMAGE_CHOOSE ? ".png"
                : control == Constants.CONTROL_AUDIO_CAPTURE ? ".m4a"
                : control == Constants.CONTROL_VIDEO_CAPTURE ? ".mp4" : ".bin";
            out.add(new StringData(p.getIndex().getReference().getNameLast() + ext));
            return out;
        }
        List<String> texts = new ArrayList<>();
        if (p.getQuestion() instanceof RangeQuestion) {
            RangeQuestion rq = (RangeQuestion) p.getQuestion();
            BigDecimal start = rq.getRangeStart();
            BigDecimal end = rq.getRangeEnd();
            if (start != null) texts.add(start.toPlainString());
            if (end != null) texts.add(end.toPlainString());
        }
        LocalDate today = LocalDate.now();
        switch (p.getDataType()) {
            case Constants.DATATYPE_INTEGER:
            case Constants.DATATYPE_LONG:
                add(texts, "1", "0", "2", "5", "10", "18", "30", "100", "1000", "1990", String.valueOf(today.getYear()), "-1");
                break;
            case Constants.DATATYPE_DECIMAL:
                add(texts, "1", "0", "0.5", "2", "10", "100", "1990", "-1");
                break;
            case Constants.DATATYPE_DATE:
                for (long d : new long[] {0, 1, 7, 30, -1, -30, -365, -365 * 10, -365 * 30, 365}) {
                    texts.add(today.plus(d, ChronoUnit.DAYS).toString());
                }
                break;
            case Constants.DATATYPE_TIME:
                add(texts, "12:00:00.000", "09:00:00.000", "00:00:00.000");
                break;
            case Constants.DATATYPE_DATE_TIME:
                texts.add(LocalDateTime.now().withNano(0).format(DateTimeFormatter.ISO_LOCAL_DATE_TIME));
                break;
            case Constants.DATATYPE_BOOLEAN:
                add(texts, "true", "false");
                break;
            case Constants.DATATYPE_GEOPOINT:
                add(texts, "43.25 76.95 800.0 5.0");
                break;
            case Constants.DATATYPE_GEOTRACE:
                add(texts, "43.25 76.95 0.0 0.0;43.26 76.95 0.0 0.0");
                break;
            case Constants.DATATYPE_GEOSHAPE:
                add(texts, "43.25 76.95 0.0 0.0;43.26 76.95 0.0 0.0;43.26 76.96 0.0 0.0;43.25 76.95 0.0 0.0");
                break;
            default:
                add(texts, "x", "test", "1", "1234567890", "+71234567890", "test@example.org");
        }
        for (String t : texts) {
            try {
                out.add(cast(p, t, ""));
            } catch (Failure e) {
                // not a value of this type: try the next one
            }
        }
        return out;
    }

    static void add(List<String> list, String... values) {
        for (String v : values) list.add(v);
    }

    /** Collect keeps media next to the instance: write a small file there when none exists. */
    void writeAttachment(String name) throws IOException {
        File f = new File(outDir, name);
        if (!f.getCanonicalPath().startsWith(outDir.getCanonicalPath() + File.separator)) return;
        if (!f.exists()) {
            Files.write(f.toPath(), name.endsWith(".png") ? PNG : "fieldapp test file\n".getBytes(StandardCharsets.UTF_8));
        }
        if (!attachments.contains(name)) attachments.add(name);
    }

    /**
     * Collect's pulldata('file', 'column', 'key column', key): the column of the first row of
     * media/file.csv whose key column equals the key, or "" (Collect registers this handler
     * itself; JavaRosa alone does not know the function).
     */
    static final class PullData implements org.javarosa.core.model.condition.IFunctionHandler {
        private final File media;

        PullData(File media) {
            this.media = media;
        }

        public String getName() {
            return "pulldata";
        }

        public List<Class[]> getPrototypes() {
            return new ArrayList<>();
        }

        public boolean rawArgs() {
            return true;
        }

        public boolean realTime() {
            return false;
        }

        public Object eval(Object[] args, org.javarosa.core.model.condition.EvaluationContext ec) {
            if (args.length != 4) throw new IllegalArgumentException("pulldata() takes 4 arguments");
            String[] text = new String[4];
            for (int i = 0; i < 4; i++) text[i] = org.javarosa.xpath.expr.XPathFuncExpr.toString(args[i]);
            File csv = new File(media, text[0] + ".csv");
            try {
                List<String> lines = Files.readAllLines(csv.toPath(), StandardCharsets.UTF_8);
                if (lines.isEmpty()) return "";
                List<String> header = splitCsv(lines.get(0).replace("\uFEFF", ""));
                int want = header.indexOf(text[1]);
                int key = header.indexOf(text[2]);
                if (want < 0 || key < 0) return "";
                for (String line : lines.subList(1, lines.size())) {
                    List<String> cells = splitCsv(line);
                    if (cells.size() > Math.max(want, key) && cells.get(key).equals(text[3])) {
                        return cells.get(want);
                    }
                }
            } catch (IOException e) {
                throw new RuntimeException("pulldata: cannot read " + csv.getName());
            }
            return "";
        }

        private static List<String> splitCsv(String line) {
            List<String> cells = new ArrayList<>();
            StringBuilder cell = new StringBuilder();
            boolean quoted = false;
            for (int i = 0; i < line.length(); i++) {
                char c = line.charAt(i);
                if (quoted && c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    cell.append('"');
                    i++;
                } else if (c == '"') {
                    quoted = !quoted;
                } else if (c == ',' && !quoted) {
                    cells.add(cell.toString());
                    cell.setLength(0);
                } else {
                    cell.append(c);
                }
            }
            cells.add(cell.toString());
            return cells;
        }
    }
}
