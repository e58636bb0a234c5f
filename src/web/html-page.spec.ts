import { FragmentSlots, HtmlPage } from './html-page';

describe('pages spliced from kept fragments', () => {
  const fragment = (text: string) => Buffer.from(text, 'utf8');

  it('puts each fragment where its slot was rendered, in order, as the same bytes', () => {
    const slots = new FragmentSlots();
    const a = slots.slot(fragment('<table>Org A · modèle</table>'));
    const b = slots.slot(fragment('<table>Org B</table>'));
    const page = slots.splice(`<main><h1>Board “x”</h1>${a}<p>between</p>${b}</main>`);
    expect(page.toString()).toBe('<main><h1>Board “x”</h1><table>Org A · modèle</table><p>between</p><table>Org B</table></main>');
    expect(page.bytes().equals(Buffer.from(page.toString(), 'utf8'))).toBe(true);
    expect(page.parts.filter((p) => Buffer.isBuffer(p))).toHaveLength(2);
  });

  it('refuses a template that drops a slot, doubles one, or swaps them', () => {
    const twoSlots = () => {
      const slots = new FragmentSlots();
      return { slots, a: slots.slot(fragment('A')), b: slots.slot(fragment('B')) };
    };
    const dropped = twoSlots();
    expect(() => dropped.slots.splice(`<p>${dropped.a}</p>`)).toThrow(/did not place fragment 1/);
    const doubled = twoSlots();
    expect(() => doubled.slots.splice(`${doubled.a}${doubled.a}${doubled.b}`)).toThrow(/twice/);
    const swapped = twoSlots();
    expect(() => swapped.slots.splice(`${swapped.b}${swapped.a}`)).toThrow(/did not place fragment 1|twice/);
  });

  it('a slot marker is a comment no escaped value can produce', () => {
    const marker = new FragmentSlots().slot(fragment('x'));
    expect(marker.startsWith('<!--')).toBe(true);
    expect(new HtmlPage(['a', fragment('b'), 'c']).toString()).toBe('abc');
  });
});
