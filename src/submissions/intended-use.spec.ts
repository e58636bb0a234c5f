import { parseIntendedUse } from './intended-use';

const fields = (text: string): string[] => [...new Set(parseIntendedUse(text).problems.map((p) => p.field))];

describe('parseIntendedUse (the upload field intendedUse)', () => {
  it('is null when the field is absent', () => {
    expect(parseIntendedUse(undefined)).toEqual({ value: null, problems: [] });
  });

  it('keeps every declared field as sent', () => {
    const declared = {
      purpose: 'Second opinion on malignancy of breast masses',
      targetCondition: 'breast carcinoma',
      population: 'adult women referred for FNA',
      users: 'cytopathologists',
      setting: 'hospital cytology laboratory',
      inputConstraints: '30 nuclear features from a digitised FNA image',
      outputType: 'probability of malignancy',
      operatingMode: 'second-reader',
    };
    expect(parseIntendedUse(JSON.stringify(declared))).toEqual({ value: declared, problems: [] });
    expect(parseIntendedUse('{"purpose":"triage of chest CT"}')).toEqual({ value: { purpose: 'triage of chest CT' }, problems: [] });
  });

  it('refuses a missing or empty purpose, naming intendedUse.purpose', () => {
    expect(fields('{"population":"adults"}')).toContain('intendedUse.purpose');
    expect(fields('{"purpose":""}')).toContain('intendedUse.purpose');
  });

  it('refuses an unknown key, naming it', () => {
    expect(fields('{"purpose":"x","claims":"FDA cleared"}')).toEqual(['intendedUse.claims']);
  });

  it('refuses an operating mode outside the four, and a non-string field', () => {
    expect(fields('{"purpose":"x","operatingMode":"autonomous"}')).toEqual(['intendedUse.operatingMode']);
    expect(fields('{"purpose":"x","population":42}')).toEqual(['intendedUse.population']);
    expect(fields('{"purpose":{"text":"x"}}')).toContain('intendedUse.purpose');
  });

  it('caps every field at 2,000 characters', () => {
    expect(parseIntendedUse(JSON.stringify({ purpose: 'p'.repeat(2000), setting: 's'.repeat(2000) })).problems).toEqual([]);
    expect(fields(JSON.stringify({ purpose: 'p'.repeat(2001) }))).toEqual(['intendedUse.purpose']);
    expect(fields(JSON.stringify({ purpose: 'p', setting: 's'.repeat(2001) }))).toEqual(['intendedUse.setting']);
  });

  it('refuses text that is not a JSON object, and what the input guard refuses', () => {
    for (const text of ['', 'not json', '[]', '"purpose"', 'null', '42']) expect(fields(text)).toEqual(['intendedUse']);
    expect(fields('{"purpose":"a\\u0000b"}')).toEqual(['intendedUse.purpose']);
    expect(fields('{"purpose":"x","__proto__":{"admin":true}}')).toEqual(['intendedUse.__proto__']);
  });
});
