"""The synthetic world: scenes whose truth is known (scene), their pixels (render), their words in English
and Chinese (captions, vocabulary, lexicon, synonyms), words back into scenes (prompts, prompt_scene), and
datasets of them (export). `tessera.eval` reads it; nothing here reads `tessera.eval`."""
