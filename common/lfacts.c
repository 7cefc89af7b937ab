/*
 * lfacts: see lfacts.h. The extractor works on words: a turn is cut into
 * sentences, a sentence into clauses at a conjunction or comma before a new
 * first-person subject, contractions are expanded, and the clause's subject
 * picks the rule ("I" + verb, "my" + noun phrase + verb, "call me X"). Word
 * lists below are the whole grammar: small, explicit, easy to extend.
 */
#include "lfacts.h"

#include "lembed.h"
#include "log.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 96
#define MAX_FACT  300

/* ---- word lists ---- */

static const char *const markers[] = {
        "well",    "so",          "oh",         "ah",       "actually",
        "also",    "and",         "but",        "btw",      "anyway",
        "anyways", "yes",         "yeah",       "yep",      "no",
        "nope",    "ok",          "okay",       "hey",      "hi",
        "hello",   "honestly",    "basically",  "fyi",      "um",
        "uh",      "hmm",         "lol",        "haha",     "plus",
        "then",    "now",         "currently",  "nowadays", "oh,",
        "alright", "right",       "sure",       "cool",     "great",
        "nice",    "wow",         "ps",         "p.s.",     "besides",
        "also,",   "however",     "though",     "sadly",    "unfortunately",
        "luckily", "fortunately", "personally", "frankly",  "obviously",
        "anyhow",  NULL,
};

/* Said before the subject ("by the way, I ..."), several words long. */
static const char *const marker_phrases[] = {
        "by the way",
        "just so you know",
        "for what it's worth",
        "for the record",
        "you know",
        "to be honest",
        "fun fact",
        "good morning",
        "good evening",
        "good afternoon",
        "these days",
        "at the moment",
        "right now",
        "as of now",
        "oh and",
        "and also",
        "in fact",
        /* asked to remember: what follows is the fact */
        "please remember that",
        "please remember",
        "remember that",
        "please note that",
        "note that",
        "keep in mind that",
        "please keep in mind that",
        "don't forget that",
        "do not forget that",
        "for context",
        "for your information",
        "just to let you know",
        "just letting you know",
        "just fyi",
        NULL,
};

/* Adverbs between "I" and the verb that add nothing to a memory. */
static const char *const filler_adverbs[] = {
        "also",  "actually", "really",     "honestly",   "personally",   "currently",  "now",       "just",
        "truly", "totally",  "absolutely", "definitely", "seriously",    "basically",  "literally", "kinda",
        "still", "even",     "certainly",  "genuinely",  "particularly", "especially", "simply",    NULL,
};

/* Adverbs kept in the fact ("Usually cycles to work"). */
static const char *const kept_adverbs[] = {
        "always",   "usually",   "often",     "never",      "sometimes", "rarely", "occasionally",
        "mostly",   "generally", "typically", "recently",   "finally",   "mainly", "regularly",
        "normally", "already",   "seldom",    "frequently", "only",      NULL,
};

/* Verbs after "I" that are conversation, not facts about the user. */
static const char *const talk_verbs[] = {
        "think",     "guess",     "wonder", "see",     "mean",     "agree",    "disagree",   "understand", "know",
        "believe",   "suppose",   "assume", "hope",    "wish",     "bet",      "doubt",      "appreciate", "apologize",
        "apologise", "promise",   "forgot", "forget",  "remember", "heard",    "read",       "saw",        "noticed",
        "asked",     "meant",     "said",   "told",    "thought",  "wondered", "understood", "knew",       "figured",
        "realized",  "realised",  "reckon", "imagine", "feel",     "felt",     "tried",      "try",        "found",
        "need",      "needed",    "ask",    "say",     "tell",     "was",      "were",       "did",        "had",
        "would",     "could",     "should", "might",   "must",     "may",      "shall",      "dunno",      "mentioned",
        "suggest",   "recommend", "prefer", "want",    "wanted",   "like",     "love",       "will",       "can",
        NULL,
};

/*
 * Of the talk verbs, those that still make a fact with the right object
 * ("I want to learn Spanish", "I need to lose weight", "I can speak
 * French"): handled by their own rules before talk_verbs is consulted.
 */

/* Small talk after "I am". */
static const char *const small_talk[] = {
        "fine",        "good",         "ok",
        "okay",        "great",        "well",
        "alright",     "sorry",        "glad",
        "sure",        "curious",      "confused",
        "wondering",   "back",         "here",
        "ready",       "done",         "kidding",
        "joking",      "asking",       "listening",
        "thinking",    "lost",         "stuck",
        "trying",      "looking",      "not sure",
        "happy to",    "excited to",   "about to",
        "afraid",      "bored",        "doing",
        "so",          "very",         "just",
        "all",         "still",        "interested in knowing",
        "wondering",   "new here",     "good thanks",
        "on it",       "in",           "out",
        "off",         "going to ask", "gonna",
        "aware",       "right",        "wrong",
        "serious",     "sad",          "tired",
        "hungry",      "thirsty",      "busy",
        "free",        "away",         "online",
        "offline",     "late",         "early",
        "fine thanks", "the one",      NULL,
};

/* Objects that make "I want/need X" a request to the assistant. */
static const char *const request_nouns[] = {
        "help",
        "advice",
        "recipe",
        "recipes",
        "idea",
        "ideas",
        "suggestion",
        "suggestions",
        "recommendation",
        "recommendations",
        "example",
        "examples",
        "list",
        "summary",
        "answer",
        "answers",
        "explanation",
        "information",
        "info",
        "tips",
        "tip",
        "some",
        "more",
        "something",
        "anything",
        "this",
        "that",
        "it",
        "a",
        "an",
        "the",
        "to know",
        "to ask",
        "to understand",
        "to see",
        "to find out",
        "to check",
        "to talk",
        "to chat",
        "to write",
        "to get",
        "to make sure",
        "to learn more",
        "to hear",
        "to try",
        "to go",
        "to leave",
        NULL,
};

/* Objects that make a fact empty ("I love it", "I agree with that"). */
static const char *const pronoun_objects[] = {
        "it",       "that",     "this",     "them",       "those",    "these", "so",  "too", "one",
        "that one", "this one", "it too",   "it so much", "that too", "you",   "him", "her", "everything",
        "nothing",  "all",      "it a lot", "that a lot", "what",     "which", NULL,
};

/* "I have X" that is conversation: "I have a question". */
static const char *const have_talk[] = {
        "a question",
        "another question",
        "questions",
        "a few questions",
        "some questions",
        "an idea",
        "no idea",
        "a problem",
        "an issue",
        "a request",
        "a doubt",
        "to go",
        "to",
        "one more",
        "a quick question",
        "a follow-up",
        "a follow up",
        "an error",
        "a bug",
        NULL,
};

/* Verbs the extractor knows in every form: noun phrases end at them, "and" before them starts a new fact. */
static const char *const lexicon[] = {
        "live",     "work",       "love",     "like",     "hate",   "enjoy",   "prefer",    "own",     "have",
        "play",     "speak",      "study",    "teach",    "drive",  "eat",     "drink",     "cook",    "run",
        "read",     "write",      "watch",    "listen",   "go",     "visit",   "travel",    "collect", "practice",
        "practise", "dislike",    "adore",    "need",     "want",   "use",     "ride",      "swim",    "volunteer",
        "attend",   "support",    "follow",   "take",     "make",   "grow",    "keep",      "bake",    "paint",
        "sing",     "dance",      "hike",     "climb",    "surf",   "ski",     "knit",      "garden",  "fish",
        "camp",     "code",       "program",  "design",   "build",  "manage",  "lead",      "rent",    "share",
        "raise",    "care",       "suffer",   "struggle", "train",  "lift",    "meditate",  "pray",    "celebrate",
        "avoid",    "miss",       "plan",     "intend",   "dream",  "fancy",   "root",      "cheer",   "vote",
        "serve",    "stay",       "commute",  "bike",     "cycle",  "walk",    "jog",       "shop",    "save",
        "invest",   "earn",       "pay",      "spend",    "sleep",  "wear",    "do",        "start",   "move",
        "learn",    "get",        "graduate", "marry",    "adopt",  "join",    "retire",    "sell",    "buy",
        "wake",     "smoke",      "vape",     "snore",    "date",   "love",    "volunteer", "mentor",  "coach",
        "lecture",  "research",   "own",      "host",     "direct", "produce", "edit",      "compose", "draw",
        "sculpt",   "photograph", "film",     "stream",   "blog",   "tweet",   "post",      "brew",    "ferment",
        "grill",    "roast",      "fly",      "sail",     "row",    "skate",   "box",       "fence",   "wrestle",
        "race",     "golf",       "bowl",     "hunt",     "hate",   "crave",   "eat",       "drink",   "study",
        NULL,
};

/* Past tense forms that are not verb + "ed". */
static const char *const irregular_past[] = {
        "went",  "got",   "bought", "had",   "made",       "met",     "began", "became", "took",  "left",  "came",
        "grew",  "won",   "lost",   "broke", "ran",        "wrote",   "ate",   "drank",  "flew",  "drove", "found",
        "gave",  "kept",  "sold",   "spent", "taught",     "brought", "built", "caught", "chose", "fell",  "fought",
        "hid",   "held",  "hurt",   "led",   "lent",       "rode",    "sang",  "sat",    "shot",  "slept", "spoke",
        "stood", "stole", "swam",   "threw", "understood", "woke",    "wore",  "quit",   "put",   "set",   "split",
        "cut",   "did",   "was",    "were",  "been",       "done",    "gone",  "paid",   "moved", "born",  NULL,
};

/* Words that stay as they are after "I" (modal and past forms need no -s). */
static const char *const modals[] = {
        "can", "could", "will", "would", "should", "might", "may", "must", "cannot", "used", NULL,
};

static const char *const prepositions[] = {
        "in", "at", "as", "from", "for", "to", "on", "with", "of", "by", "near", "into", "since", NULL,
};

/* "my X" where X is a person: "my" is dropped in the fact ("Lives with sister"). */
static const char *const kin[] = {
        "wife",        "husband",  "sister",      "brother",   "mom",       "mother",     "mum",     "dad",
        "father",      "son",      "daughter",    "kids",      "children",  "child",      "partner", "boyfriend",
        "girlfriend",  "fiance",   "fiancee",     "friend",    "friends",   "family",     "parents", "grandma",
        "grandmother", "grandpa",  "grandfather", "aunt",      "uncle",     "cousin",     "cousins", "niece",
        "nephew",      "spouse",   "twin",        "siblings",  "sisters",   "brothers",   "sons",    "daughters",
        "boss",        "roommate", "neighbor",    "neighbour", "colleague", "colleagues", NULL,
};

/* Noun phrases after "my" that are conversation ("My question is ..."). */
static const char *const my_talk[] = {
        "question",          "questions", "problem",  "issue",         "point",   "guess",   "bad",
        "pleasure",          "goodness",  "god",      "gosh",          "code",    "answer",  "turn",
        "mistake",           "apologies", "thoughts", "opinion",       "request", "message", "last message",
        "previous question", "bad,",      "take",     "understanding", "idea",    "concern", NULL,
};

/* Capitalised words after "I'm" that are not names. */
static const char *const demonyms[] = {
        "american",  "british",   "english",    "french",     "german",       "italian",  "spanish",     "portuguese",
        "brazilian", "canadian",  "mexican",    "chinese",    "japanese",     "korean",   "indian",      "irish",
        "scottish",  "welsh",     "dutch",      "swedish",    "norwegian",    "danish",   "finnish",     "polish",
        "russian",   "ukrainian", "greek",      "turkish",    "jewish",       "muslim",   "christian",   "catholic",
        "hindu",     "buddhist",  "australian", "african",    "european",     "asian",    "vegan",       "swiss",
        "austrian",  "belgian",   "czech",      "hungarian",  "romanian",     "nigerian", "kenyan",      "egyptian",
        "israeli",   "iranian",   "pakistani",  "vietnamese", "thai",         "filipino", "indonesian",  "argentinian",
        "argentine", "chilean",   "colombian",  "peruvian",   "cuban",        "latino",   "latina",      "hispanic",
        "arab",      "persian",   "catalan",    "basque",     "scandinavian", "texan",    "californian", "new",
        "from",      "in",        "at",         "a",          "an",           "the",      "not",         "also",
        "still",     "really",    NULL,
};

static bool in_list(const char *const *list, const char *w)
{
	for (; *list; list++)
		if (strcmp(*list, w) == 0)
			return true;
	return false;
}

/* ---- growing strings and lists ---- */

struct sbuf {
	char *s;
	size_t n, cap;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = mw_realloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void sb_word(struct sbuf *b, const char *w)
{
	if (b->n && b->s[b->n - 1] != ' ')
		sb_add(b, " ");
	sb_add(b, w);
}

static char *lower_dup(const char *s)
{
	char *t = mw_strdup(s), *p;

	for (p = t; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return t;
}

static void list_add(struct lfacts_list *l, char *fact)
{
	int i;

	for (i = 0; i < l->n; i++) {
		if (strcasecmp(l->facts[i], fact) == 0) {
			free(fact);
			return;
		}
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->facts = mw_realloc(l->facts, sizeof(char *) * (size_t)l->cap);
	}
	l->facts[l->n++] = fact;
}

void lfacts_list_free(struct lfacts_list *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		free(l->facts[i]);
	free(l->facts);
	memset(l, 0, sizeof(*l));
}

/* ---- words of a clause ---- */

struct word {
	char *w;    /* as written, without surrounding punctuation */
	char *lw;   /* lower case */
	bool comma; /* a comma (or colon, dash) followed it */
};

struct clause {
	struct word w[MAX_WORDS];
	int n;
	bool question;
};

static void clause_push(struct clause *c, const char *w, size_t n, bool comma)
{
	char *t;

	if (c->n == MAX_WORDS || n == 0)
		return;
	t = mw_strndup(w, n);
	c->w[c->n].w = t;
	c->w[c->n].lw = lower_dup(t);
	c->w[c->n].comma = comma;
	c->n++;
}

static void clause_clear(struct clause *c)
{
	int i;

	for (i = 0; i < c->n; i++) {
		free(c->w[i].w);
		free(c->w[i].lw);
	}
	c->n = 0;
	c->question = false;
}

/* Drops words [0, k). */
static void clause_shift(struct clause *c, int k)
{
	int i;

	for (i = 0; i < k && i < c->n; i++) {
		free(c->w[i].w);
		free(c->w[i].lw);
	}
	if (k > c->n)
		k = c->n;
	memmove(c->w, c->w + k, sizeof(c->w[0]) * (size_t)(c->n - k));
	c->n -= k;
}

/* Replaces word i by two words (contraction expansion). */
static void clause_split_word(struct clause *c, int i, const char *a, const char *b)
{
	bool comma = c->w[i].comma;
	bool cap = isupper((unsigned char)c->w[i].w[0]);

	if (c->n == MAX_WORDS)
		return;
	memmove(c->w + i + 2, c->w + i + 1, sizeof(c->w[0]) * (size_t)(c->n - i - 1));
	free(c->w[i].w);
	free(c->w[i].lw);
	c->w[i].w = mw_strdup(a);
	if (cap)
		c->w[i].w[0] = (char)toupper((unsigned char)c->w[i].w[0]);
	c->w[i].lw = lower_dup(a);
	c->w[i].comma = false;
	c->w[i + 1].w = mw_strdup(b);
	c->w[i + 1].lw = lower_dup(b);
	c->w[i + 1].comma = comma;
	c->n++;
}

static void expand_contractions(struct clause *c)
{
	static const struct {
		const char *from, *a, *b;
	} map[] = {
	        {"i'm", "I", "am"},
	        {"im", "I", "am"},
	        {"i've", "I", "have"},
	        {"ive", "I", "have"},
	        {"i'll", "I", "will"},
	        {"i'd", "I", "would"},
	        {"don't", "do", "not"},
	        {"dont", "do", "not"},
	        {"doesn't", "does", "not"},
	        {"didn't", "did", "not"},
	        {"didnt", "did", "not"},
	        {"can't", "can", "not"},
	        {"cant", "can", "not"},
	        {"cannot", "can", "not"},
	        {"won't", "will", "not"},
	        {"isn't", "is", "not"},
	        {"aren't", "are", "not"},
	        {"wasn't", "was", "not"},
	        {"weren't", "were", "not"},
	        {"haven't", "have", "not"},
	        {"hasn't", "has", "not"},
	        {"hadn't", "had", "not"},
	        {"wouldn't", "would", "not"},
	        {"couldn't", "could", "not"},
	        {"shouldn't", "should", "not"},
	        {"it's", "it", "is"},
	        {"that's", "that", "is"},
	        {"there's", "there", "is"},
	        {"name's", "name", "is"},
	        {"what's", "what", "is"},
	        {"we're", "we", "are"},
	        {"they're", "they", "are"},
	        {"you're", "you", "are"},
	        {"ain't", "am", "not"},
	        {"gonna", "going", "to"},
	        {"wanna", "want", "to"},
	};
	int i;
	size_t k;

	for (i = 0; i < c->n; i++) {
		for (k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
			if (strcmp(c->w[i].lw, map[k].from) == 0) {
				/* "im" is a word only at a clause start ("im from Porto") */
				if (strcmp(map[k].from, "im") == 0 && i != 0)
					break;
				clause_split_word(c, i, map[k].a, map[k].b);
				i++;
				break;
			}
		}
	}
}

/* ---- sentences and clauses ---- */

static bool abbreviation(const char *word_start, size_t n)
{
	static const char *const abbr[] = {"mr", "mrs",  "ms", "dr", "st",     "e.g",  "i.e", "etc", "vs", "jr",
	                                   "sr", "prof", "mt", "no", "approx", "dept", "inc", "ltd", "co", NULL};
	char w[16];
	size_t i;

	if (n == 0 || n >= sizeof(w))
		return false;
	for (i = 0; i < n; i++)
		w[i] = (char)tolower((unsigned char)word_start[i]);
	w[n] = '\0';
	return in_list(abbr, w);
}

/* Copy of text with typographic quotes and dashes made ASCII. */
static char *normalise(const char *text)
{
	struct sbuf b = {0};
	const unsigned char *p = (const unsigned char *)text;

	sb_add(&b, "");
	while (*p) {
		if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x98 || p[2] == 0x99)) {
			sb_add(&b, "'");
			p += 3;
		} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x9c || p[2] == 0x9d)) {
			sb_add(&b, "\"");
			p += 3;
		} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x93 || p[2] == 0x94)) {
			sb_add(&b, ",");
			p += 3;
		} else if (p[0] == 0xe2 && p[1] == 0x80 && p[2] == 0xa6) {
			sb_add(&b, ".");
			p += 3;
		} else if (*p == '\t' || *p == '\r') {
			sb_add(&b, " ");
			p++;
		} else {
			sb_addn(&b, (const char *)p, 1);
			p++;
		}
	}
	return b.s;
}

static bool word_char(char ch)
{
	unsigned char c = (unsigned char)ch;

	return isalnum(c) || c >= 0x80 || c == '\'' || c == '&' || c == '+' || c == '#' || c == '$' || c == '%' ||
	       c == '/' || c == '@';
}

/* '-' between two word characters (sci-fi), '.', ':' or ',' between two digits (3.5, 10:30, 1,000). */
static bool joiner(const char *p, const char *w, const char *e)
{
	if (p == w || p + 1 >= e || !word_char(p[-1]) || !word_char(p[1]))
		return false;
	if (*p == '-')
		return true;
	return (*p == '.' || *p == ':' || *p == ',') && isdigit((unsigned char)p[-1]) && isdigit((unsigned char)p[1]);
}

/* Words of one sentence [s, e) into c. */
static void sentence_words(const char *s, const char *e, struct clause *c)
{
	const char *p = s;

	while (p < e) {
		const char *w, *q;
		size_t n;

		while (p < e && !word_char(*p))
			p++;
		if (p >= e)
			break;
		w = p;
		while (p < e && (word_char(*p) || joiner(p, w, e)))
			p++;
		n = (size_t)(p - w);
		/* quotes around a word are not part of it */
		while (n > 0 && w[n - 1] == '\'')
			n--;
		while (n > 0 && *w == '\'') {
			w++;
			n--;
		}
		for (q = p; q < e && *q == ' '; q++)
			;
		clause_push(c, w, n, q < e && (*q == ',' || *q == ':' || *q == '(' || *q == ')' || *q == '-'));
	}
}

/* A subject that starts a new clause: "I", "I'm", "my" ... */
static bool subject_start(const struct word *w)
{
	static const char *const starts[] = {"i", "i'm", "im", "i've", "i'll", "i'd", "my", NULL};

	return in_list(starts, w->lw);
}

static bool conjunction(const char *lw)
{
	static const char *const conj[] = {"and", "but", "so", "plus", "also", "though", "although", "yet", NULL};

	return in_list(conj, lw);
}

static bool time_word(const char *lw)
{
	static const char *const t[] = {"year",      "years",  "month",    "months", "week", "weeks",   "ago",
	                                "yesterday", "today",  "tomorrow", "since",  "next", "last",    "recently",
	                                "summer",    "winter", "spring",   "autumn", "fall", "weekend", "night",
	                                "morning",   "soon",   "day",      "days",   NULL};

	return in_list(t, lw) || (strlen(lw) == 4 && isdigit((unsigned char)lw[0]) && isdigit((unsigned char)lw[3]));
}

/* ---- verbs ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "like" -> "likes", "have" -> "has", "study" -> "studies", "watch" -> "watches". */
static char *third_person(const char *verb)
{
	size_t n = strlen(verb);
	struct sbuf b = {0};

	if (strcmp(verb, "have") == 0)
		return mw_strdup("has");
	if (strcmp(verb, "am") == 0 || strcmp(verb, "are") == 0 || strcmp(verb, "be") == 0)
		return mw_strdup("is");
	if (strcmp(verb, "do") == 0)
		return mw_strdup("does");
	if (strcmp(verb, "go") == 0)
		return mw_strdup("goes");
	if (n > 1 && verb[n - 1] == 'y' && !strchr("aeiou", verb[n - 2])) {
		sb_addn(&b, verb, n - 1);
		sb_add(&b, "ies");
	} else if (ends_with(verb, "s") || ends_with(verb, "x") || ends_with(verb, "z") || ends_with(verb, "ch") ||
	           ends_with(verb, "sh") || (ends_with(verb, "o") && n > 1 && !strchr("aeiou", verb[n - 2]))) {
		sb_add(&b, verb);
		sb_add(&b, "es");
	} else {
		sb_add(&b, verb);
		sb_add(&b, "s");
	}
	return b.s;
}

/* "eating" -> "eat", "smoking" -> "smoke", "running" -> "run", "playing" -> "play". */
static char *base_of_ing(const char *w)
{
	static const char *const e_stems[] = {
	        "writ", "bit", "invit",   "complet", "hat",    "vot",  "not", "rat",       "dat", "skat", "us",
	        "com",  "gam", "liv",     "hav",     "giv",    "danc", "tak", "mak",       "bak", "hik",  "smok",
	        "driv", "rid", "cod",     "shar",    "car",    "stor", "bik", "ski",       "mov", "los",  "chos",
	        "serv", "sav", "purchas", "practic", "produc", "danc", "vap", "volunteer", NULL};
	size_t n = strlen(w);
	char *s;

	if (n < 5 || !ends_with(w, "ing"))
		return mw_strdup(w);
	s = mw_strndup(w, n - 3);
	n -= 3;
	if (in_list(e_stems, s) && strcmp(s, "volunteer") != 0 && strcmp(s, "ski") != 0) {
		char *t = mw_malloc(n + 2);

		memcpy(t, s, n);
		t[n] = 'e';
		t[n + 1] = '\0';
		free(s);
		return t;
	}
	if (n >= 3 && s[n - 1] == s[n - 2] && !strchr("lsz", s[n - 1]) && !strchr("aeiou", s[n - 1]))
		s[n - 1] = '\0';
	return s;
}

static bool past_form(const char *lw)
{
	size_t n = strlen(lw);

	return in_list(irregular_past, lw) ||
	       (n > 4 && ends_with(lw, "ed") && strcmp(lw, "need") != 0 && strcmp(lw, "feed") != 0 &&
	        strcmp(lw, "breed") != 0 && strcmp(lw, "seed") != 0 && strcmp(lw, "speed") != 0);
}

/* The lexicon verb lw is a form of (lives, lived, live -> "live"), or NULL. */
static const char *lexicon_lemma(const char *lw)
{
	const char *const *v;
	size_t n = strlen(lw);

	for (v = lexicon; *v; v++) {
		size_t k = strlen(*v);
		char *s;
		bool hit;

		if (strncmp(lw, *v, k > 1 ? k - 1 : k) != 0)
			continue;
		if (strcmp(lw, *v) == 0)
			return *v;
		s = third_person(*v);
		hit = strcmp(lw, s) == 0;
		free(s);
		if (hit)
			return *v;
		/* live -> lived, work -> worked, study -> studied, shop -> shopped */
		if (n == k + 1 && (*v)[k - 1] == 'e' && strncmp(lw, *v, k) == 0 && lw[k] == 'd')
			return *v;
		if (n == k + 2 && strncmp(lw, *v, k) == 0 && strcmp(lw + k, "ed") == 0)
			return *v;
		if (n == k + 2 && (*v)[k - 1] == 'y' && strncmp(lw, *v, k - 1) == 0 && strcmp(lw + k - 1, "ied") == 0)
			return *v;
		if (n == k + 3 && strncmp(lw, *v, k) == 0 && lw[k] == (*v)[k - 1] && strcmp(lw + k + 1, "ed") == 0)
			return *v;
	}
	if (strcmp(lw, "has") == 0 || strcmp(lw, "had") == 0)
		return "have";
	if (strcmp(lw, "is") == 0 || strcmp(lw, "are") == 0 || strcmp(lw, "was") == 0 || strcmp(lw, "were") == 0 ||
	    strcmp(lw, "am") == 0 || strcmp(lw, "be") == 0)
		return "be";
	if (strcmp(lw, "does") == 0 || strcmp(lw, "did") == 0)
		return "do";
	if (strcmp(lw, "goes") == 0 || strcmp(lw, "went") == 0)
		return "go";
	return NULL;
}

static bool is_verb_form(const char *lw)
{
	return lexicon_lemma(lw) != NULL || past_form(lw) || in_list(modals, lw);
}

/* ---- building a fact ---- */

struct fact {
	struct sbuf b;
};

static void fact_start(struct fact *f, const char *first)
{
	memset(f, 0, sizeof(*f));
	sb_add(&f->b, first);
}

/* Appends words [from, to) of c, rewritten for the third person. */
static void fact_rest(struct fact *f, const struct clause *c, int from, int to)
{
	int i;

	for (i = from; i < to && i < c->n; i++) {
		const char *lw = c->w[i].lw, *out = c->w[i].w;

		if (strcmp(lw, "my") == 0 || strcmp(lw, "our") == 0)
			out = i + 1 < to && in_list(kin, c->w[i + 1].lw) ? NULL : "their";
		else if (strcmp(lw, "me") == 0 || strcmp(lw, "us") == 0)
			out = "them";
		else if (strcmp(lw, "myself") == 0)
			out = "themselves";
		else if (strcmp(lw, "mine") == 0)
			out = "theirs";
		else if (strcmp(lw, "i") == 0 || strcmp(lw, "we") == 0)
			out = "they";
		else if (strcmp(lw, "am") == 0 && i > from && strcmp(c->w[i - 1].lw, "i") == 0)
			out = "are";
		else if (strcmp(lw, "was") == 0 && i > from && strcmp(c->w[i - 1].lw, "i") == 0)
			out = "were";
		if (out)
			sb_word(&f->b, out);
		if (out && c->w[i].comma && i + 1 < to)
			sb_add(&f->b, ",");
	}
}

/* The fact's text: first letter upper case, at least two words, within MAX_FACT bytes; NULL if not a fact. */
static char *fact_finish(struct fact *f)
{
	char *s = f->b.s;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	while (n > 0 && strchr(" ,;:-", s[n - 1]))
		s[--n] = '\0';
	if (n == 0 || !strchr(s, ' ') || n > MAX_FACT) {
		free(s);
		return NULL;
	}
	s[0] = (char)toupper((unsigned char)s[0]);
	return s;
}

/* Words [from, c->n) as one lower-case string. */
static char *span_lower(const struct clause *c, int from, int to)
{
	struct sbuf b = {0};
	int i;

	sb_add(&b, "");
	for (i = from; i < to && i < c->n; i++)
		sb_word(&b, c->w[i].lw);
	return b.s;
}

/* Does the span [from, c->n) start with one of the phrases? */
static bool span_starts(const struct clause *c, int from, const char *const *phrases)
{
	char *s = span_lower(c, from, c->n);
	bool hit = false;

	for (; *phrases && !hit; phrases++) {
		size_t k = strlen(*phrases);

		hit = strncmp(s, *phrases, k) == 0 && (s[k] == '\0' || s[k] == ' ');
	}
	free(s);
	return hit;
}

static bool span_is(const struct clause *c, int from, int to, const char *const *phrases)
{
	char *s = span_lower(c, from, to);
	bool hit = in_list(phrases, s);

	free(s);
	return hit;
}

/* A trailing "anymore" / "any more" / "now" / "these days": its index, or c->n. */
static int anymore_at(const struct clause *c)
{
	int n = c->n;

	if (n >= 1 && strcmp(c->w[n - 1].lw, "anymore") == 0)
		return n - 1;
	if (n >= 2 && strcmp(c->w[n - 2].lw, "any") == 0 && strcmp(c->w[n - 1].lw, "more") == 0)
		return n - 2;
	return n;
}

/* ---- rules ---- */

/* "... the verb at i ... [to)" as a third-person fact, with prefix ("No longer") or NULL. */
static char *verb_fact(const struct clause *c, int i, int to, const char *prefix, const char *adverb)
{
	struct fact f;
	const char *lw = c->w[i].lw;
	char *v;

	if (i >= to)
		return NULL;
	if (in_list(modals, lw) || past_form(lw) || ends_with(lw, "ing") || (prefix && strcmp(prefix, "Does not") == 0))
		v = mw_strdup(c->w[i].lw);
	else
		v = third_person(lw);
	fact_start(&f, "");
	if (prefix)
		sb_word(&f.b, prefix);
	if (adverb)
		sb_word(&f.b, adverb);
	sb_word(&f.b, v);
	free(v);
	fact_rest(&f, c, i + 1, to);
	return fact_finish(&f);
}

static bool capitalised_name(const struct word *w)
{
	const char *p;

	if (!isupper((unsigned char)w->w[0]) || in_list(demonyms, w->lw) || strcmp(w->lw, "i") == 0)
		return false;
	for (p = w->w + 1; *p; p++)
		if (!isalpha((unsigned char)*p) && *p != '-' && *p != '\'' && !((unsigned char)*p & 0x80))
			return false;
	return true;
}

static bool number_word(const char *lw)
{
	return isdigit((unsigned char)lw[0]) != 0;
}

/* "I am X" (i at X). */
static char *rule_am(const struct clause *c, int i)
{
	int to = anymore_at(c);
	struct fact f;

	if (i >= c->n)
		return NULL;
	/* I am not X anymore / I am no longer X: a retraction */
	if (strcmp(c->w[i].lw, "not") == 0 && to < c->n) {
		fact_start(&f, "Is no longer");
		fact_rest(&f, c, i + 1, to);
		return fact_finish(&f);
	}
	if (strcmp(c->w[i].lw, "no") == 0 && i + 1 < c->n && strcmp(c->w[i + 1].lw, "longer") == 0) {
		fact_start(&f, "Is no longer");
		fact_rest(&f, c, i + 2, c->n);
		return fact_finish(&f);
	}
	/* "trying to lose weight": a goal; "trying to understand this": a question in disguise */
	if (i + 2 < c->n && strcmp(c->w[i].lw, "trying") == 0 && strcmp(c->w[i + 1].lw, "to") == 0 &&
	    !in_list(talk_verbs, c->w[i + 2].lw) &&
	    !in_list((const char *const[]){"figure", "find", "fix", "decide", "solve", "make", "get", "write", "debug",
	                                   "install", "run", "use", "do", NULL},
	             c->w[i + 2].lw) &&
	    !span_is(c, i + 3, c->n, pronoun_objects)) {
		fact_start(&f, "Is");
		fact_rest(&f, c, i, c->n);
		return fact_finish(&f);
	}
	if (span_starts(c, i, small_talk) &&
	    !span_starts(c, i,
	                 (const char *const[]){"going to", "interested in", "allergic", "in love", "in a",
	                                       "thinking about", "thinking of", "trying to learn", "looking forward to",
	                                       "so excited about", "very interested in", "still living",
	                                       "still working", NULL}))
		return NULL;
	if (i + 2 < c->n && (strcmp(c->w[i + 1].lw, "about") == 0 || strcmp(c->w[i + 1].lw, "of") == 0) &&
	    span_is(c, i + 2, c->n, pronoun_objects))
		return NULL;
	if (span_is(c, i, c->n, pronoun_objects))
		return NULL;
	/* I'm Sean / I am Sean Murphy */
	if (capitalised_name(&c->w[i]) && (c->n - i == 1 || (c->n - i == 2 && capitalised_name(&c->w[i + 1])))) {
		fact_start(&f, "Name is");
		fact_rest(&f, c, i, c->n);
		return fact_finish(&f);
	}
	/* I'm 34 / I am 34 years old */
	if (number_word(c->w[i].lw) &&
	    (c->n - i == 1 || span_starts(c, i + 1, (const char *const[]){"years", "yo", NULL}))) {
		fact_start(&f, "Is");
		sb_word(&f.b, c->w[i].w);
		sb_word(&f.b, "years old");
		return fact_finish(&f);
	}
	fact_start(&f, "Is");
	fact_rest(&f, c, i, c->n);
	return fact_finish(&f);
}

/* "I do not V X [anymore]" (i at V). */
static char *rule_do_not(const struct clause *c, int i)
{
	int to = anymore_at(c);

	if (i >= c->n || (in_list(talk_verbs, c->w[i].lw) &&
	                  !in_list((const char *const[]){"like", "love", "want", "need", "prefer", NULL}, c->w[i].lw)))
		return NULL;
	if (span_is(c, i + 1, to, pronoun_objects) || i + 1 >= to)
		return NULL;
	if (to < c->n)
		return verb_fact(c, i, to, "No longer", NULL);
	return verb_fact(c, i, c->n, "Does not", NULL);
}

/* "I stopped / quit / gave up V-ing X": a retraction of "Vs X". */
static char *rule_stopped(const struct clause *c, int i)
{
	struct fact f;
	char *base, *v;

	if (i >= c->n || !ends_with(c->w[i].lw, "ing") || strlen(c->w[i].lw) < 5)
		return NULL;
	base = base_of_ing(c->w[i].lw);
	v = third_person(base);
	fact_start(&f, "No longer");
	sb_word(&f.b, v);
	fact_rest(&f, c, i + 1, c->n);
	free(base);
	free(v);
	return fact_finish(&f);
}

/* "I have X". */
static char *rule_have(const struct clause *c, int i)
{
	int to = anymore_at(c);
	struct fact f;

	bool neg = false, no = false;

	if (i < c->n && (strcmp(c->w[i].lw, "not") == 0 || strcmp(c->w[i].lw, "no") == 0)) {
		neg = true;
		no = strcmp(c->w[i].lw, "no") == 0;
		i++;
	}
	if (i < c->n && strcmp(c->w[i].lw, "got") == 0)
		i++;
	if (i >= c->n || span_starts(c, i, have_talk) || span_is(c, i, c->n, pronoun_objects))
		return NULL;
	if (neg) {
		/* I haven't got a car anymore / I have no car anymore */
		if (to < c->n) {
			fact_start(&f, "No longer has");
			if (no)
				sb_word(&f.b, "a");
			fact_rest(&f, c, i, to);
			return fact_finish(&f);
		}
		fact_start(&f, no ? "Has no" : "Has not");
		fact_rest(&f, c, i, c->n);
		return fact_finish(&f);
	}
	fact_start(&f, "Has");
	fact_rest(&f, c, i, c->n);
	return fact_finish(&f);
}

/* "I want/need/would like X": a wish unless it asks the assistant for something. */
static char *rule_want(const struct clause *c, int i, const char *verb)
{
	struct fact f;

	if (i >= c->n || span_starts(c, i, request_nouns) || span_is(c, i, c->n, pronoun_objects))
		return NULL;
	if (strcmp(c->w[i].lw, "to") != 0)
		return NULL; /* "I want a pizza", "I need a recipe": requests */
	fact_start(&f, verb);
	fact_rest(&f, c, i, c->n);
	return fact_finish(&f);
}

/* "I <adverbs> <verb> ..." with the words after "I" starting at i. */
static char *rule_i(const struct clause *c, int i)
{
	const char *adverb = NULL;
	const char *lw;
	int to;

	while (i < c->n && (in_list(filler_adverbs, c->w[i].lw) || in_list(kept_adverbs, c->w[i].lw) ||
	                    (ends_with(c->w[i].lw, "ly") && strlen(c->w[i].lw) > 4 && strcmp(c->w[i].lw, "fly") != 0 &&
	                     !is_verb_form(c->w[i].lw)))) {
		if (in_list(kept_adverbs, c->w[i].lw))
			adverb = c->w[i].lw;
		i++;
	}
	if (i >= c->n)
		return NULL;
	lw = c->w[i].lw;
	to = anymore_at(c);

	if (strcmp(lw, "no") == 0 && i + 1 < c->n && strcmp(c->w[i + 1].lw, "longer") == 0) {
		if (i + 2 < c->n && strcmp(c->w[i + 2].lw, "am") == 0) {
			struct fact f;

			fact_start(&f, "Is no longer");
			fact_rest(&f, c, i + 3, c->n);
			return fact_finish(&f);
		}
		return i + 2 < c->n ? verb_fact(c, i + 2, c->n, "No longer", NULL) : NULL;
	}
	if (strcmp(lw, "am") == 0) {
		if (adverb) {
			/* "I always am late": rare; keep it simple */
			return NULL;
		}
		return rule_am(c, i + 1);
	}
	if (strcmp(lw, "have") == 0) {
		if (i + 1 < c->n && strcmp(c->w[i + 1].lw, "been") == 0) {
			struct fact f;

			fact_start(&f, "Has been");
			fact_rest(&f, c, i + 2, c->n);
			return span_is(c, i + 2, c->n, pronoun_objects) ? NULL : fact_finish(&f);
		}
		if (i + 1 < c->n && (strcmp(c->w[i + 1].lw, "to") == 0))
			return NULL; /* I have to go */
		return adverb ? verb_fact(c, i, c->n, NULL, adverb) : rule_have(c, i + 1);
	}
	if (strcmp(lw, "do") == 0 && i + 1 < c->n && strcmp(c->w[i + 1].lw, "not") == 0)
		return rule_do_not(c, i + 2);
	if (strcmp(lw, "did") == 0 && i + 1 < c->n && strcmp(c->w[i + 1].lw, "not") == 0)
		return NULL; /* past and negative: rarely a lasting fact */
	if (strcmp(lw, "was") == 0) {
		struct fact f;

		if (i + 1 < c->n && strcmp(c->w[i + 1].lw, "born") == 0) {
			fact_start(&f, "Was born");
			fact_rest(&f, c, i + 2, c->n);
			return fact_finish(&f);
		}
		return NULL; /* "I was tired", "I was wondering": rarely lasting */
	}
	if (strcmp(lw, "got") == 0 &&
	    (i + 1 >= c->n ||
	     !in_list((const char *const[]){"married", "engaged", "divorced", "promoted", "hired", "accepted", "a",
	                                    "an", "into", "pregnant", "diagnosed", "two", "three", "new", NULL},
	              c->w[i + 1].lw)))
		return NULL;
	if (strcmp(lw, "stopped") == 0 || strcmp(lw, "quit") == 0)
		return rule_stopped(c, i + 1);
	if (strcmp(lw, "gave") == 0 && i + 1 < c->n && strcmp(c->w[i + 1].lw, "up") == 0)
		return rule_stopped(c, i + 2);
	if (strcmp(lw, "used") == 0 && i + 1 < c->n && strcmp(c->w[i + 1].lw, "to") == 0) {
		struct fact f;

		if (i + 2 >= c->n || in_list(talk_verbs, c->w[i + 2].lw))
			return NULL;
		fact_start(&f, "Used to");
		fact_rest(&f, c, i + 2, c->n);
		return fact_finish(&f);
	}
	if (strcmp(lw, "want") == 0 || strcmp(lw, "need") == 0)
		return rule_want(c, i + 1, strcmp(lw, "want") == 0 ? "Wants" : "Needs");
	if ((strcmp(lw, "would") == 0 || strcmp(lw, "will") == 0 || strcmp(lw, "can") == 0) && i + 1 < c->n) {
		const char *next = c->w[i + 1].lw;

		if (strcmp(lw, "would") == 0 && (strcmp(next, "like") == 0 || strcmp(next, "love") == 0))
			return rule_want(c, i + 2, strcmp(next, "like") == 0 ? "Would like" : "Would love");
		if (strcmp(next, "not") == 0 && i + 2 < c->n && !in_list(talk_verbs, c->w[i + 2].lw) &&
		    strcmp(lw, "can") == 0) {
			struct fact f;

			fact_start(&f, "Cannot");
			fact_rest(&f, c, i + 2, c->n);
			return fact_finish(&f);
		}
		if (strcmp(lw, "would") != 0 && !in_list(talk_verbs, next) && i + 2 < c->n &&
		    !span_is(c, i + 2, c->n, pronoun_objects))
			return verb_fact(c, i, c->n, NULL, adverb);
		return NULL;
	}
	if (strcmp(lw, "like") == 0 || strcmp(lw, "love") == 0 || strcmp(lw, "prefer") == 0) {
		if (i + 1 >= c->n || span_is(c, i + 1, c->n, pronoun_objects) ||
		    (strcmp(c->w[i + 1].lw, "to") == 0 && i + 2 < c->n &&
		     in_list((const char *const[]){"know", "ask", "see", "thank", "say", "add", "share", NULL},
		             c->w[i + 2].lw)))
			return NULL;
		if (strcmp(c->w[i + 1].lw, "your") == 0 || strcmp(c->w[i + 1].lw, "you") == 0)
			return NULL;
		return verb_fact(c, i, c->n, NULL, adverb);
	}
	if (in_list(talk_verbs, lw))
		return NULL;
	/* a verb we know, a past form, or any lower-case word in verb position */
	if (!isalpha((unsigned char)lw[0]) || (isupper((unsigned char)c->w[i].w[0]) && !is_verb_form(lw)))
		return NULL;
	if (i + 1 < c->n && span_is(c, i + 1, c->n, pronoun_objects))
		return NULL;
	if (to < c->n && !past_form(lw))
		return NULL; /* "I V X anymore" without a negation: garbled */
	return verb_fact(c, i, c->n, NULL, adverb);
}

static char *rule_i(const struct clause *c, int i);

/* "my X is Y", "my X lives in Y", "my X and I V Y", "my name is Y" (i after "my"). */
static char *rule_my(const struct clause *c, int i)
{
	struct fact f;
	int v;

	/* the noun phrase runs to the first verb form */
	for (v = i + 1; v < c->n && v < i + 5; v++)
		if (is_verb_form(c->w[v].lw) && strcmp(c->w[v].lw, "favorite") != 0)
			break;
	if (v >= c->n || v >= i + 5)
		return NULL;
	if (span_is(c, i, v, my_talk))
		return NULL;
	/* my wife and I love hiking -> Loves hiking with wife */
	if (v - i >= 3 && strcmp(c->w[v - 1].lw, "i") == 0 && strcmp(c->w[v - 2].lw, "and") == 0) {
		char *fact, *with;
		struct fact g;
		struct clause me = {0};
		int k;

		/* the same clause as "I love hiking" */
		clause_push(&me, "I", 1, false);
		for (k = v; k < c->n; k++)
			clause_push(&me, c->w[k].w, strlen(c->w[k].w), c->w[k].comma);
		fact = rule_i(&me, 1);
		clause_clear(&me);
		if (!fact)
			return NULL;
		fact_start(&g, fact);
		with = span_lower(c, i, v - 2);
		sb_word(&g.b, "with");
		sb_word(&g.b, with);
		free(with);
		free(fact);
		return fact_finish(&g);
	}
	if (v + 1 >= c->n)
		return NULL;
	if (span_is(c, v + 1, c->n, pronoun_objects))
		return NULL;
	fact_start(&f, "");
	fact_rest(&f, c, i, v);
	sb_word(&f.b, c->w[v].lw);
	fact_rest(&f, c, v + 1, c->n);
	return fact_finish(&f);
}

/* Strips greetings and discourse markers at the start; false when nothing is left. */
static bool strip_markers(struct clause *c)
{
	bool again = true;

	while (again && c->n > 0) {
		const char *const *p;

		again = false;
		for (p = marker_phrases; *p; p++) {
			char *s;
			int k = 1;
			size_t len;
			const char *q;

			for (q = *p; *q; q++)
				k += *q == ' ';
			if (k > c->n)
				continue;
			s = span_lower(c, 0, k);
			len = strlen(*p);
			if (strncmp(s, *p, len) == 0 && s[len] == '\0') {
				clause_shift(c, k);
				again = true;
			}
			free(s);
			if (again)
				break;
		}
		if (!again && c->n > 1 && in_list(markers, c->w[0].lw)) {
			clause_shift(c, 1);
			again = true;
		}
	}
	return c->n > 0;
}

/* Does the clause talk to the assistant ("you", "your")? */
static bool addressed(const struct clause *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (in_list((const char *const[]){"you", "your", "yours", "yourself", "u", "ya", NULL}, c->w[i].lw))
			return true;
	return false;
}

/* Splits "I love hiking and play guitar" at "and <verb>"; returns the index of the verb or -1. */
static int verb_conjunction(const struct clause *c, int from)
{
	int i;

	for (i = from + 2; i + 2 < c->n; i++) {
		const char *lw = c->w[i + 1].lw;

		if (strcmp(c->w[i].lw, "and") == 0 && lexicon_lemma(lw) && strcmp(lexicon_lemma(lw), "be") != 0 &&
		    !ends_with(lw, "ing") && !ends_with(lw, "s") && !past_form(lw))
			return i + 1;
	}
	return -1;
}

static void clause_facts(struct clause *c, struct lfacts_list *out);

/* Drops what a fact does not need at the end: "now" (it is in the present anyway), "by the way", "too". */
static void strip_trailing(struct clause *c)
{
	static const char *const tails[] = {"now",     "nowadays",   "currently", "too",           "btw",
	                                    "lol",     "haha",       "though",    "anyway",        "by the way",
	                                    "as well", "these days", "right now", "at the moment", NULL};
	bool again = true;

	while (again && c->n > 2) {
		const char *const *t;

		again = false;
		for (t = tails; *t && !again; t++) {
			const char *one[2] = {*t, NULL};
			int k = 1, i;
			const char *q;

			for (q = *t; *q; q++)
				k += *q == ' ';
			if (c->n - k < 2 || !span_is(c, c->n - k, c->n, one))
				continue;
			for (i = 0; i < k; i++) {
				c->n--;
				free(c->w[c->n].w);
				free(c->w[c->n].lw);
			}
			c->w[c->n - 1].comma = false;
			again = true;
		}
	}
}

/* Extracts from a clause that starts at a first-person subject. */
static void subject_facts(struct clause *c, struct lfacts_list *out)
{
	char *fact = NULL;

	expand_contractions(c);
	strip_trailing(c);
	if (c->n == 0)
		return;
	if (strcmp(c->w[0].lw, "i") == 0) {
		int split = verb_conjunction(c, 1);

		if (split > 0) {
			/* "I love hiking and play guitar": the second part gets its own "I" */
			struct clause second = {0};
			int k;

			clause_push(&second, "I", 1, false);
			for (k = split; k < c->n; k++)
				clause_push(&second, c->w[k].w, strlen(c->w[k].w), c->w[k].comma);
			for (k = split - 1; k < c->n; k++) {
				free(c->w[k].w);
				free(c->w[k].lw);
			}
			c->n = split - 1;
			subject_facts(c, out);
			subject_facts(&second, out);
			clause_clear(&second);
			return;
		}
		fact = rule_i(c, 1);
	} else if (strcmp(c->w[0].lw, "my") == 0) {
		if (c->n >= 3 && strcmp(c->w[1].lw, "name") == 0 && strcmp(c->w[2].lw, "is") == 0) {
			struct fact f;

			fact_start(&f, "Name is");
			fact_rest(&f, c, 3, c->n);
			fact = c->n > 3 ? fact_finish(&f) : (free(f.b.s), NULL);
		} else {
			fact = rule_my(c, 1);
		}
	} else if (c->n >= 3 && strcmp(c->w[0].lw, "call") == 0 && strcmp(c->w[1].lw, "me") == 0 &&
	           capitalised_name(&c->w[2])) {
		struct fact f;

		fact_start(&f, "Name is");
		fact_rest(&f, c, 2, c->n);
		fact = fact_finish(&f);
	}
	if (fact)
		list_add(out, fact);
}

static void clause_facts(struct clause *c, struct lfacts_list *out)
{
	if (!strip_markers(c) || c->question)
		return;
	if (addressed(c))
		return;
	subject_facts(c, out);
}

/* Words that open a question ("..., do you?", "what about you"). */
static bool question_start(const char *lw)
{
	static const char *const q[] = {"what",  "how",    "why",   "where",   "when",  "who",   "which",
	                                "do",    "does",   "did",   "can",     "could", "would", "will",
	                                "is",    "are",    "right", "should",  "any",   "shall", "whats",
	                                "isn't", "aren't", "don't", "doesn't", NULL};

	return in_list(q, lw);
}

/* "My wife and I ...": words [start, i) are "my X and" (a subject with the user in it). */
static bool compound_subject(const struct clause *s, int start, int i)
{
	int k;

	if (strcmp(s->w[i].lw, "i") != 0 || strcmp(s->w[i - 1].lw, "and") != 0 || i - start < 3 || i - start > 4 ||
	    strcmp(s->w[start].lw, "my") != 0)
		return false;
	for (k = start + 1; k < i - 1; k++)
		if (is_verb_form(s->w[k].lw) || s->w[k].comma)
			return false;
	return true;
}

/*
 * Cuts a sentence into clauses before a first-person subject that follows a
 * comma or conjunction ("..., I", "and I", "but my") and before a question
 * after a comma ("..., do you?"), then extracts each. A sentence ending in
 * '?' makes its last clause a question; earlier clauses still count.
 */
static void sentence_facts(struct clause *s, struct lfacts_list *out)
{
	struct clause c = {0};
	struct clause prefix = {0};
	int start = 0, i;

	for (i = 1; i <= s->n; i++) {
		bool cut = i == s->n;

		if (!cut && subject_start(&s->w[i]) && (s->w[i - 1].comma || conjunction(s->w[i - 1].lw)))
			cut = !compound_subject(s, start, i);
		if (!cut && s->w[i - 1].comma && question_start(s->w[i].lw))
			cut = true;
		if (!cut)
			continue;
		{
			int k, end = i;

			/* "and I": the conjunction belongs to neither side */
			if (end < s->n && conjunction(s->w[end - 1].lw) && end - 1 > start)
				end--;
			for (k = start; k < end; k++)
				clause_push(&c, s->w[k].w, strlen(s->w[k].w), s->w[k].comma);
		}
		c.question = (s->question && i == s->n) || (c.n > 0 && question_start(c.w[0].lw));
		/* "Last year, I moved to Berlin": a short time phrase goes to the end of the next clause */
		if (i < s->n && c.n > 0 && c.n <= 4 && !subject_start(&c.w[0]) && s->w[i - 1].comma) {
			int k;
			bool timey = false;

			for (k = 0; k < c.n; k++)
				timey = timey || time_word(c.w[k].lw);
			if (timey) {
				clause_clear(&prefix);
				for (k = 0; k < c.n; k++)
					clause_push(&prefix,
					            k == 0 && (time_word(c.w[k].lw) ||
					                       in_list(prepositions, c.w[k].lw) ||
					                       strcmp(c.w[k].lw, "a") == 0 ||
					                       strcmp(c.w[k].lw, "this") == 0)
					                    ? c.w[k].lw
					                    : c.w[k].w,
					            strlen(c.w[k].w), false);
				clause_clear(&c);
				start = i;
				continue;
			}
		}
		if (prefix.n > 0 && c.n > 0) {
			int k;

			for (k = 0; k < prefix.n; k++)
				clause_push(&c, prefix.w[k].w, strlen(prefix.w[k].w), false);
			clause_clear(&prefix);
		}
		clause_facts(&c, out);
		clause_clear(&c);
		start = i;
	}
	clause_clear(&prefix);
}

void lfacts_extract(const char *text, struct lfacts_list *out)
{
	char *t = normalise(text ? text : "");
	size_t len = strlen(t), start = 0, e;
	struct clause sent = {0};

	while (start < len) {
		size_t q;

		for (e = start; e < len; e++) {
			char ch = t[e];

			if (ch == '\n' || ch == '!' || ch == '?' || ch == ';')
				break;
			if (ch == '.') {
				size_t w = e;

				while (w > start && (isalpha((unsigned char)t[w - 1]) || t[w - 1] == '.'))
					w--;
				/* not 3.5, not "Dr.", not "e.g." */
				if (!(e > start && isdigit((unsigned char)t[e - 1]) &&
				      isdigit((unsigned char)t[e + 1])) &&
				    !abbreviation(t + w, e - w) && !isalpha((unsigned char)t[e + 1]))
					break;
			}
		}
		/* the run of terminators: "?!", "...", "?" */
		for (q = e; q < len && strchr(".!?;\n", t[q]); q++)
			;
		sentence_words(t + start, t + e, &sent);
		sent.question = memchr(t + e, '?', q - e) != NULL;
		if (sent.n > 0)
			sentence_facts(&sent, out);
		clause_clear(&sent);
		start = q > e ? q : e + 1;
	}
	free(t);
}

/* ---- reading facts back: retractions and heads ---- */

static bool starts_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* "User likes tea", "The user's name is Sean": the fact without the subject other models put in. */
static const char *skip_user(const char *s)
{
	static const char *const subj[] = {"the user's ", "user's ", "the user ", "user ", NULL};
	const char *const *p;

	while (*s == ' ')
		s++;
	for (p = subj; *p; p++)
		if (starts_ci(s, *p))
			return s + strlen(*p);
	return s;
}

static char *capital_dup(const char *s)
{
	char *t = mw_strdup(s);
	size_t n = strlen(t);

	while (n > 0 && strchr(" .!", t[n - 1]))
		t[--n] = '\0';
	t[0] = (char)toupper((unsigned char)t[0]);
	return t;
}

char *lfacts_retracted(const char *fact)
{
	const char *s = skip_user(fact);

	if (starts_ci(s, "no longer "))
		return s[10] ? capital_dup(s + 10) : NULL;
	if (starts_ci(s, "is no longer ") && s[13]) {
		char *rest = mw_strdup(s + 13), *t = mw_malloc(strlen(rest) + 4);

		sprintf(t, "Is %s", rest);
		free(rest);
		{
			char *u = capital_dup(t);

			free(t);
			return u;
		}
	}
	if (starts_ci(s, "used to ") && s[8]) {
		/* Used to live in Lisbon -> Lives in Lisbon */
		const char *v = s + 8;
		size_t vl = strcspn(v, " ");
		char *verb = mw_strndup(v, vl), *lv = lower_dup(verb), *tp = third_person(lv);
		char *t = mw_malloc(strlen(tp) + strlen(v + vl) + 2), *u;

		sprintf(t, "%s%s", tp, v + vl);
		u = capital_dup(t);
		free(verb);
		free(lv);
		free(tp);
		free(t);
		return u;
	}
	return NULL;
}

static void head_words(const char *fact, char words[][32], int *n, int max)
{
	const char *p = skip_user(fact);

	*n = 0;
	while (*p && *n < max) {
		size_t k = 0;

		while (*p && !isalnum((unsigned char)*p) && !((unsigned char)*p & 0x80))
			p++;
		while (p[k] &&
		       (isalnum((unsigned char)p[k]) || p[k] == '\'' || p[k] == '-' || ((unsigned char)p[k] & 0x80)))
			k++;
		if (k == 0)
			break;
		if (k < 32) {
			size_t j;

			for (j = 0; j < k; j++)
				words[*n][j] = (char)tolower((unsigned char)p[j]);
			words[*n][k] = '\0';
			(*n)++;
		}
		p += k;
	}
}

void lfacts_head(const char *fact, char *out, size_t outlen, bool *single)
{
	static const char *const articles[] = {"a", "an", "the", "their", "two", "three", "some", NULL};
	char w[16][32];
	int n, i = 0, first;
	const char *lemma;
	struct sbuf b = {0};

	*single = false;
	head_words(fact, w, &n, 16);
	while (i < n && (in_list(filler_adverbs, w[i]) || in_list(kept_adverbs, w[i])))
		i++;
	first = i;
	sb_add(&b, "");
	if (i >= n)
		goto done;
	lemma = lexicon_lemma(w[i]);
	if (!lemma && past_form(w[i]))
		lemma = w[i];
	if (lemma && i == first) {
		sb_word(&b, lemma);
		i++;
		if (strcmp(lemma, "be") == 0) {
			/* Is 34 years old */
			if (i + 2 < n && number_word(w[i]) && strcmp(w[i + 1], "years") == 0) {
				free(b.s);
				snprintf(out, outlen, "age");
				*single = true;
				return;
			}
			if (i < n && in_list(prepositions, w[i])) {
				sb_word(&b, w[i]); /* is from */
				*single = true;
			} else if (i + 1 < n && in_list(prepositions, w[i + 1]) && !in_list(articles, w[i])) {
				sb_word(&b, w[i]); /* is allergic to, is going to, is married to */
				sb_word(&b, w[i + 1]);
				*single = strcmp(w[i], "allergic") != 0 && strcmp(w[i], "interested") != 0;
			} else if (i < n) {
				sb_word(&b, in_list(articles, w[i]) ? "a" : w[i]);
			}
		} else if (i < n && in_list(prepositions, w[i])) {
			sb_word(&b, w[i]); /* lives in, works as */
			*single = strcmp(lemma, "live") == 0 || strcmp(lemma, "work") == 0 ||
			          strcmp(lemma, "move") == 0 || strcmp(lemma, "study") == 0 || strcmp(lemma, "go") == 0;
		} else {
			/* has a dog, likes tea: the object's first noun */
			while (i < n && in_list(articles, w[i]))
				i++;
			if (i < n)
				sb_word(&b, w[i]);
		}
		goto done;
	}
	/* a noun phrase subject: Name is, Favorite color is, Sister lives in */
	for (; i < n && i < 5; i++) {
		const char *l = lexicon_lemma(w[i]);

		if (l && i > first) {
			sb_word(&b, l);
			if (i + 1 < n && in_list(prepositions, w[i + 1]))
				sb_word(&b, w[i + 1]);
			*single = strcmp(l, "be") == 0 || strcmp(l, "live") == 0 || strcmp(l, "work") == 0;
			goto done;
		}
		sb_word(&b, w[i]);
	}
	/* no verb found: the first two words */
	free(b.s);
	b.s = NULL;
	b.n = b.cap = 0;
	sb_add(&b, "");
	for (i = 0; i < n && i < 2; i++)
		sb_word(&b, w[i]);
done:
	snprintf(out, outlen, "%s", b.s ? b.s : "");
	free(b.s);
}

/* ---- decisions ---- */

/* Content words of a text (lower case, lightly stemmed), for overlap tests. */
static int content_words(const char *text, char words[][32], int max)
{
	static const char *const stop[] = {"a",       "an",    "the",    "is",   "are",    "was",  "were", "be",
	                                   "has",     "have",  "had",    "no",   "longer", "not",  "does", "do",
	                                   "to",      "in",    "at",     "as",   "of",     "for",  "on",   "with",
	                                   "their",   "they",  "them",   "and",  "or",     "used", "user", "user's",
	                                   "anymore", "named", "called", "very", "really", "from", NULL};
	char w[32][32];
	int n, i, k = 0;

	head_words(text, w, &n, 32);
	for (i = 0; i < n && k < max; i++) {
		size_t len = strlen(w[i]);
		const char *l;

		if (in_list(stop, w[i]))
			continue;
		l = lexicon_lemma(w[i]);
		if (l && strcmp(l, "be") != 0 && strcmp(l, "have") != 0) {
			snprintf(words[k++], 32, "%s", l);
			continue;
		}
		if (len > 3 && w[i][len - 1] == 's' && w[i][len - 2] != 's')
			w[i][len - 1] = '\0';
		snprintf(words[k++], 32, "%s", w[i]);
	}
	return k;
}

static bool share_object_word(const char *a, const char *b)
{
	char wa[24][32], wb[24][32];
	int na = content_words(a, wa, 24), nb = content_words(b, wb, 24), i, j;

	for (i = 0; i < na; i++) {
		/* the verb is shared by construction; an object word must be */
		if (lexicon_lemma(wa[i]))
			continue;
		for (j = 0; j < nb; j++)
			if (strcmp(wa[i], wb[j]) == 0)
				return true;
	}
	return false;
}

/* A negative statement ("Does not like X", "Is not a fan", "Has no car", "Cannot eat gluten", "Never drinks"). */
static bool negative(const char *text)
{
	static const char *const neg[] = {"not", "no", "never", "cannot", "nobody", "nothing", "neither", NULL};
	char w[32][32];
	int n, i;

	head_words(text, w, &n, 32);
	for (i = 0; i < n; i++) {
		if (in_list(neg, w[i]) && !(strcmp(w[i], "no") == 0 && i + 1 < n && strcmp(w[i + 1], "longer") == 0))
			return true;
		if (ends_with(w[i], "n't"))
			return true;
	}
	return false;
}

/* Same words, in any order, up to case, plurals and punctuation. */
static bool same_words(const char *a, const char *b)
{
	char wa[24][32], wb[24][32];
	int na = content_words(a, wa, 24), nb = content_words(b, wb, 24), i, j;
	char *r = lfacts_retracted(a);
	bool neg_a = r != NULL, neg_b;

	free(r);
	r = lfacts_retracted(b);
	neg_b = r != NULL;
	free(r);
	if (na != nb || neg_a != neg_b || na == 0 || negative(a) != negative(b))
		return false;
	for (i = 0; i < na; i++) {
		for (j = 0; j < nb; j++)
			if (strcmp(wa[i], wb[j]) == 0)
				break;
		if (j == nb)
			return false;
	}
	return true;
}

/* "Is vegetarian", "Is married": the copula and one word. */
static bool attribute(const char *text)
{
	char w[4][32];
	int n;

	head_words(text, w, &n, 4);
	return n == 2 && strcmp(w[0], "is") == 0 && !number_word(w[1]);
}

struct slot {
	char *text; /* current text (owned) */
	float *vec; /* its embedding (owned) */
	int memory; /* existing index, or -1 for an ADD of this call */
	enum lfacts_event event;
	bool alive;
	bool touched; /* an event is due for it */
};

static double cosine(const float *a, const float *b, int dims)
{
	double dot = 0;
	int d;

	for (d = 0; d < dims; d++)
		dot += (double)a[d] * b[d];
	return dot; /* both unit length */
}

static void slot_set_text(struct slot *s, const struct lembed *e, const char *text)
{
	free(s->text);
	s->text = mw_strdup(text);
	if (!s->vec)
		s->vec = mw_malloc(sizeof(float) * (size_t)lembed_dims(e));
	lembed_text(e, text, s->vec);
}

static void decide_one(const struct lembed *e, const char *fact, struct slot *slots, int *nslots)
{
	int dims = lembed_dims(e), i, best = -1;
	float *v = mw_malloc(sizeof(float) * (size_t)dims);
	char *pos = lfacts_retracted(fact);
	char head[96], h2[96];
	bool single, single2;
	double best_sim = -2;

	/* the same fact again */
	for (i = 0; i < *nslots; i++) {
		if (slots[i].alive && (strcasecmp(slots[i].text, fact) == 0 || same_words(slots[i].text, fact))) {
			if (slots[i].memory >= 0 && !slots[i].touched) {
				slots[i].event = LFACTS_NONE;
				slots[i].touched = true;
			}
			goto out;
		}
	}
	if (pos) {
		/* a retraction: delete the memory it takes back */
		lembed_text(e, pos, v);
		for (i = 0; i < *nslots; i++) {
			double sim;

			if (!slots[i].alive)
				continue;
			sim = cosine(v, slots[i].vec, dims);
			if ((sim >= LFACTS_DELETE_SIM && share_object_word(pos, slots[i].text)) ||
			    sim >= LFACTS_DELETE_SIM_ANY) {
				if (sim > best_sim) {
					best_sim = sim;
					best = i;
				}
			}
		}
		if (best >= 0) {
			slots[best].alive = false;
			slots[best].event = LFACTS_DELETE;
			slots[best].touched = true;
			goto out;
		}
	} else {
		lembed_text(e, fact, v);
		lfacts_head(fact, head, sizeof(head), &single);
		for (i = 0; i < *nslots; i++) {
			double sim;

			if (!slots[i].alive)
				continue;
			sim = cosine(v, slots[i].vec, dims);
			/* "Does not like mushrooms" against "Likes mushrooms": the new word replaces the old */
			if (negative(fact) != negative(slots[i].text)) {
				if (sim >= LFACTS_DELETE_SIM && share_object_word(fact, slots[i].text) &&
				    sim > best_sim) {
					best_sim = sim;
					best = i;
				}
				continue;
			}
			if (sim >= LFACTS_SAME_SIM) {
				if (slots[i].memory >= 0 && !slots[i].touched) {
					slots[i].event = LFACTS_NONE;
					slots[i].touched = true;
				}
				goto out;
			}
			/* "Is vegan" after "Is vegetarian": one word for one attribute, close enough to replace it */
			if (sim >= LFACTS_ATTRIBUTE_SIM && sim > best_sim && attribute(fact) &&
			    attribute(slots[i].text)) {
				best_sim = sim;
				best = i;
				continue;
			}
			/* an age is a number: any other age replaces it, however far the vectors */
			if (!single || (sim < LFACTS_UPDATE_SIM && strcmp(head, "age") != 0))
				continue;
			lfacts_head(slots[i].text, h2, sizeof(h2), &single2);
			if (strcmp(head, h2) == 0 && sim > best_sim) {
				best_sim = sim;
				best = i;
			}
		}
		if (best >= 0) {
			slot_set_text(&slots[best], e, fact);
			if (slots[best].memory >= 0)
				slots[best].event = LFACTS_UPDATE;
			slots[best].touched = true;
			goto out;
		}
	}
	/* new: an ADD (a retraction of nothing we know is itself worth keeping) */
	slots[*nslots] = (struct slot){.memory = -1, .event = LFACTS_ADD, .alive = true, .touched = true};
	slot_set_text(&slots[*nslots], e, fact);
	(*nslots)++;
out:
	free(pos);
	free(v);
}

void lfacts_decide(const struct lembed *e, const char *const *facts, int nf, const char *const *existing, int ne,
                   struct lfacts_decisions *out)
{
	struct slot *slots = mw_calloc((size_t)(ne + nf + 1), sizeof(*slots));
	int nslots = 0, i, order = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ne; i++) {
		slots[nslots] = (struct slot){.memory = i, .event = LFACTS_NONE, .alive = true};
		slot_set_text(&slots[nslots], e, existing[i] ? existing[i] : "");
		nslots++;
	}
	for (i = 0; i < nf; i++)
		if (facts[i] && facts[i][0])
			decide_one(e, facts[i], slots, &nslots);
	out->d = mw_calloc((size_t)(nslots + 1), sizeof(*out->d));
	for (i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];

		if (!s->touched || (s->memory < 0 && !s->alive))
			continue;
		out->d[order].event = s->memory < 0 ? LFACTS_ADD : s->event;
		out->d[order].memory = s->memory;
		out->d[order].text =
		        mw_strdup(s->event == LFACTS_DELETE || s->event == LFACTS_NONE ? existing[s->memory] : s->text);
		order++;
	}
	out->n = order;
	for (i = 0; i < nslots; i++) {
		free(slots[i].text);
		free(slots[i].vec);
	}
	free(slots);
}

void lfacts_decisions_free(struct lfacts_decisions *d)
{
	int i;

	for (i = 0; i < d->n; i++)
		free(d->d[i].text);
	free(d->d);
	memset(d, 0, sizeof(*d));
}
