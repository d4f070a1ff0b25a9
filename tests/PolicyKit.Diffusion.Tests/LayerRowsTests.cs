using PolicyKit.Diffusion.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests;

/// <summary>
/// The row shapes the executor hands a layer (a contiguous range, host-chosen columns, device columns) gather and
/// scatter the same rows; the rotation the layers use is the reference formula bit for bit.
/// </summary>
public class LayerRowsTests
{
    /// <summary>Reference: rows of <c>[B or 1, T, ...]</c> at per-sequence columns, one sequence at a time.</summary>
    private static Tensor Reference(Tensor source, long[] columns, int b)
    {
        int n = columns.Length / b;
        return torch.stack(Enumerable.Range(0, b).Select(r =>
            source[source.shape[0] == 1 ? 0 : r].index_select(0, torch.tensor(columns[(r * n)..((r + 1) * n)]))).ToArray());
    }

    public static TheoryData<int, long[]> Cases => new()
    {
        { 1, [5, 1, 6] },
        { 2, [0, 3, 6, 2, 4, 1] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Host_columns_gather_and_scatter_the_rows_device_columns_do(int b, long[] columns)
    {
        const int t = 7;
        int n = columns.Length / b;
        using var scope = torch.NewDisposeScope();
        var host = LayerRows.Subset(columns, b, t, torch.CPU);
        var device = LayerRows.Subset(torch.tensor(columns, [b, n]), t);
        var hidden = torch.randn(b, t, 5);
        var phases = torch.randn(1, t, 1, 4);  // rotary phases shared by every sequence, one per head broadcast
        foreach (var rows in new[] { host, device })
        {
            Assert.True(TestModels.Same(Reference(hidden, columns, b), rows.Gather(hidden)));
            Assert.True(TestModels.Same(Reference(phases, columns, b).expand(b, n, 1, 4), rows.Gather(phases).expand(b, n, 1, 4)));
            var store = torch.zeros(b, t, 5);
            var computed = torch.randn(b, n, 5);
            rows.Scatter(store, computed);
            Assert.True(TestModels.Same(computed, Reference(store, columns, b)));
            Assert.Equal(b * n * 5, store.ne(0).sum().item<long>());
        }
        for (int r = 0; r < b; r++)
            for (int j = 0; j < n; j++) Assert.Equal(columns[r * n + j], host.HostColumn(r, j));
        Assert.Null(device.HostColumn(0, 0));
    }

    [Fact]
    public void A_contiguous_range_moves_its_rows_as_views()
    {
        const int b = 2, t = 9, start = 3, n = 4;
        using var scope = torch.NewDisposeScope();
        var range = LayerRows.ContiguousRange(start, n, t);
        var columns = Enumerable.Range(0, b).SelectMany(_ => Enumerable.Range(start, n).Select(c => (long)c)).ToArray();
        var hidden = torch.randn(b, t, 6);
        Assert.Equal((start, n), range.Range);
        Assert.Null(range.FlatIndex);
        Assert.True(TestModels.Same(Reference(hidden, columns, b), range.Gather(hidden)));
        var store = torch.zeros(b, t, 6);
        var computed = torch.randn(b, n, 6);
        range.Scatter(store, computed);
        Assert.True(TestModels.Same(computed, store.narrow(1, start, n)));
        Assert.Equal(b * n * 6, store.ne(0).sum().item<long>());
        Assert.True(LayerRows.ContiguousRange(0, t, t).IsAll);
        Assert.Throws<ArgumentOutOfRangeException>(() => LayerRows.ContiguousRange(7, 3, t));
    }

    [Fact]
    public void Rotating_all_heads_by_roll_is_the_rotate_half_formula_bit_for_bit()
    {
        const int b = 2, n = 5, heads = 3, headDim = 8;
        using var scope = torch.NewDisposeScope();
        var x = torch.randn(b, n, heads * headDim);
        var cos = torch.randn(1, n, headDim);
        var sin = torch.randn(1, n, headDim);
        var x4 = x.view(b, n, heads, headDim);
        var rotated = torch.cat([-x4.narrow(-1, headDim / 2, headDim / 2), x4.narrow(-1, 0, headDim / 2)], -1);
        var expected = (x4 * cos.unsqueeze(2) + rotated * sin.unsqueeze(2)).view(b, n, heads * headDim);
        var actual = Rotary.ApplyHeads(x, cos.unsqueeze(2), Rotary.SignedSin(sin).unsqueeze(2), headDim);
        Assert.True(TestModels.Same(expected, actual));
        Assert.True(TestModels.Same(expected, Rotary.Apply(x, cos, sin, headDim)));
    }
}
