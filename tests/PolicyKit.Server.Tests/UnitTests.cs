using FsCheck;
using FsCheck.Fluent;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Server.Tests;

public sealed class StopSequenceTests
{
    [Fact]
    public void Streaming_pieces_through_the_filter_gives_the_same_text_as_cutting_the_whole()
    {
        // Text over a small alphabet, so stop sequences occur often and straddle piece boundaries.
        var alphabet = Gen.Elements('a', 'b', 'c');
        var text = Gen.ArrayOf(alphabet).Select(cs => new string(cs));
        var stop = Gen.Choose(1, 3).SelectMany(n => Gen.ArrayOf(alphabet, n)).Select(cs => new string(cs));
        var input = from t in text
                    from stops in Gen.Choose(0, 3).SelectMany(n => Gen.ListOf(stop, n))
                    from cuts in Gen.ListOf(Gen.Choose(0, Math.Max(0, t.Length)))
                    select (Text: t, Stops: stops.ToArray(), Cuts: cuts.Distinct().Order().ToArray());

        Prop.ForAll(Arb.From(input), x =>
        {
            var filter = new StopSequenceFilter(x.Stops);
            var sent = new System.Text.StringBuilder();
            int from = 0;
            foreach (var cut in x.Cuts.Append(x.Text.Length))
            {
                sent.Append(filter.Push(x.Text[from..cut]));
                from = cut;
            }
            sent.Append(filter.Flush());
            var (expected, stopped) = StopSequences.Cut(x.Text, x.Stops);
            return sent.ToString() == expected && filter.Stopped == stopped;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void A_longer_stop_sequence_that_starts_first_wins_over_a_shorter_one_that_ends_first()
    {
        // FsCheck found it: "bac" starts at 1 and "a" ends first at 3; the whole-text cut keeps "b".
        var filter = new StopSequenceFilter(["bac", "a"]);
        var sent = string.Concat("bbacbbcbca".Select(c => filter.Push(c.ToString()))) + filter.Flush();
        Assert.Equal("b", sent);
        Assert.True(filter.Stopped);
    }
}

public sealed class GenerationSettingsTests
{
    private static readonly SamplerOptions Defaults = SamplerOptions.Llada with { GenLength = 32, Steps = 32, BlockLength = 16 };

    [Fact]
    public void Max_tokens_round_up_to_whole_blocks_and_keep_the_steps_per_token()
    {
        var options = new GenerationSettings(40, null, null, null, null, null).Apply(Defaults, out int max);
        Assert.Equal(40, max);
        Assert.Equal(48, options.GenLength);
        Assert.Equal(16, options.BlockLength);
        Assert.Equal(48, options.Steps);
    }

    [Fact]
    public void A_short_answer_is_one_block_and_request_settings_win()
    {
        var options = new GenerationSettings(8, 4, null, 0.8, 0.5, 7).Apply(Defaults, out _);
        Assert.Equal((8, 8, 4), (options.GenLength, options.BlockLength, options.Steps));
        Assert.Equal(TransferSchedule.Threshold, options.Schedule);
        Assert.Equal((0.8, 0.5, 7L), (options.Threshold, options.Temperature, options.Seed));
    }

    [Fact]
    public void Settings_that_do_not_fit_name_the_request_field()
    {
        var error = Assert.Throws<ArgumentException>(() => new GenerationSettings(32, 3, 16, null, null, null).Apply(Defaults, out _));
        Assert.Equal("steps", error.ParamName);
        Assert.StartsWith("'steps': ", error.Message);
        var dream = Assert.Throws<ArgumentException>(() => new GenerationSettings(32, null, 16, null, null, null).Apply(SamplerOptions.Dream(32, 32), out _));
        Assert.Equal("block_length", dream.ParamName);
    }
}
