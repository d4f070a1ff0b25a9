namespace PolicyKit.Server;

/// <summary>
/// OpenAI's <c>stop</c>: the answer ends just before the first stop sequence it contains. Applied by the server to
/// whatever the model produced, so it holds whatever the chat client does with <c>ChatOptions.StopSequences</c>.
/// </summary>
public static class StopSequences
{
    /// <summary><paramref name="text"/> up to its first stop sequence, and whether there was one.</summary>
    public static (string Text, bool Stopped) Cut(string text, IReadOnlyList<string> stop)
    {
        int at = First(text, stop);
        return at < 0 ? (text, false) : (text[..at], true);
    }

    internal static int First(string text, IReadOnlyList<string> stop)
    {
        int first = -1;
        foreach (var s in stop)
        {
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        return first;
    }
}

/// <summary>
/// Stop sequences over a stream of text pieces: holds back the last few characters that could still begin a stop
/// sequence, so no part of one is ever sent.
/// </summary>
internal sealed class StopSequenceFilter(IReadOnlyList<string> stop)
{
    private readonly int _holdBack = stop.Count == 0 ? 0 : stop.Max(s => s.Length) - 1;
    private string _pending = "";

    /// <summary>A stop sequence was seen: nothing more is to be sent.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Takes the next piece and returns the text that is safe to send now.</summary>
    public string Push(string piece)
    {
        if (Stopped) return "";
        // Every stop sequence that began in text already sent would have ended inside the held-back tail, where it was
        // searched for, so searching what is pending is enough.
        _pending += piece;
        int at = StopSequences.First(_pending, stop);
        if (at >= 0)
        {
            // The answer ends before the stop sequence that *starts* first (as Cut on the whole text decides), so a
            // longer one that began earlier and may still complete with the next piece is waited for.
            if (CouldStillStartBefore(at)) return "";
            Stopped = true;
            var before = _pending[..at];
            _pending = "";
            return before;
        }
        int safe = Math.Max(0, _pending.Length - _holdBack);
        var ready = _pending[..safe];
        _pending = _pending[safe..];
        return ready;
    }

    /// <summary>The held-back rest, once the stream has ended (cut at a stop sequence still undecided).</summary>
    public string Flush()
    {
        if (Stopped) return "";
        var (rest, stopped) = StopSequences.Cut(_pending, stop);
        Stopped = stopped;
        _pending = "";
        return rest;
    }

    private bool CouldStillStartBefore(int at)
    {
        for (int p = Math.Max(0, at - _holdBack); p < at; p++)
        {
            var tail = _pending.AsSpan(p);
            foreach (var s in stop)
                if (s.Length > tail.Length && s.AsSpan().StartsWith(tail, StringComparison.Ordinal)) return true;
        }
        return false;
    }
}
